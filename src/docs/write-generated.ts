// `make schema`: writes the files derived from code (the config schema and reference, the deny
// reason, error-code and metric tables), so they are committed and
// reviewed with the change that caused them. `--check` writes nothing and exits 1 when a file
// differs (for CI that wants to fail rather than regenerate).
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONFIG_REFERENCE_PATH, renderConfigReference } from '../config/config-reference.js'
import {
  CONFIG_SCHEMA_PATH,
  configJsonSchema,
  configJsonSchemaText,
} from '../config/json-schema.js'
import { ERROR_CODES_PATH, renderErrorCodes } from './error-codes.js'
import { METRICS_REFERENCE_PATH, renderMetricsReference } from './metrics-reference.js'
import { REASON_CODES_PATH, renderReasonCodes } from './reason-codes.js'

/** The repository root: this file runs from dist/src/docs/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const EXAMPLE_CONFIG_PATH = 'examples/config.yaml'

/** Every generated file: path relative to the repository root -> its expected text. */
export async function generatedFiles(root = REPO_ROOT): Promise<Map<string, string>> {
  const example = await readFile(join(root, EXAMPLE_CONFIG_PATH), 'utf8')
  return new Map([
    [CONFIG_SCHEMA_PATH, configJsonSchemaText()],
    [CONFIG_REFERENCE_PATH, renderConfigReference(configJsonSchema(), example)],
    [REASON_CODES_PATH, renderReasonCodes()],
    [METRICS_REFERENCE_PATH, renderMetricsReference()],
    [ERROR_CODES_PATH, renderErrorCodes()],
  ])
}

async function readOrEmpty(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return ''
  }
}

async function main(check: boolean): Promise<number> {
  let stale = 0
  for (const [path, text] of await generatedFiles()) {
    const file = join(REPO_ROOT, path)
    if ((await readOrEmpty(file)) === text) continue
    if (check) {
      process.stderr.write(`${path} is stale: run make schema and commit it\n`)
      stale++
    } else {
      await writeFile(file, text)
      process.stdout.write(`wrote ${path}\n`)
    }
  }
  return stale === 0 ? 0 : 1
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.includes('--check')).then((code) => {
    process.exitCode = code
  })
}
