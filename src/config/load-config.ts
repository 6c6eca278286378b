import { readFile } from 'node:fs/promises'
import { parseDocument } from 'yaml'
import { EXIT_USAGE, errnoCode, errnoHint } from '../shared/errors.js'
import { ConfigError, problemsFromZod } from './errors.js'
import { type Config, ConfigSchema, REMOVED_KEYS } from './schema.js'

/** Bounds the file read before parsing: a config is a few KiB. */
const MAX_CONFIG_BYTES = 1024 * 1024

/** The yaml library's first message line, without the colon that introduces its excerpt. */
export function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/:\s*$/, '')
}

/** Parses and validates config text; `file` names the source in errors. */
export function parseConfig(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${firstLine(e.message)}` })),
      { exitCode: EXIT_USAGE },
    )
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 })
  const result = ConfigSchema.safeParse(raw ?? {}, { reportInput: true })
  if (!result.success) throw new ConfigError(file, problemsFromZod(result.error, REMOVED_KEYS))
  return result.data
}

export async function loadConfigFile(file: string): Promise<Config> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    const code = errnoCode(err)
    throw new ConfigError(
      file,
      [{ path: '', message: `cannot read the file (${code ?? 'error'})` }],
      {
        exitCode: EXIT_USAGE,
        hint: errnoHint(code),
        unreadable: true,
      },
    )
  }
  if (buf.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      file,
      [{ path: '', message: `file is ${buf.length} bytes, more than ${MAX_CONFIG_BYTES}` }],
      { exitCode: EXIT_USAGE, unreadable: true },
    )
  }
  return parseConfig(buf.toString('utf8'), file)
}
