import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parse } from 'yaml'
import { configJsonSchema } from '../../src/config/json-schema.js'
import { parseConfig } from '../../src/config/load-config.js'
import { REPO_ROOT } from '../../src/docs/write-generated.js'

const R = '  rules:\n    - name: r\n      path: /x\n'
// Structural cases: the JSON Schema and parseConfig must agree.
const CASES: Array<[string, string, boolean]> = [
  ['minimal', `policy:\n${R}      public: true\n`, true],
  ['unknown key', `polcy: {}\npolicy:\n${R}      public: true\n`, false],
  ['wrong type', `listen: 5\npolicy:\n${R}      public: true\n`, false],
  ['bad method', `policy:\n${R}      methods: [GTE]\n      public: true\n`, false],
  ['limit too small', `limits: {max_headers: 1}\npolicy:\n${R}      public: true\n`, false],
  ['missing policy', 'listen: 127.0.0.1:1\n', false],
  ['public false', `policy:\n${R}      public: false\n`, false],
]

function runtimeOk(yaml: string): boolean {
  try {
    parseConfig(yaml, 't.yaml')
    return true
  } catch {
    return false
  }
}

test('JSON Schema (ajv) and runtime validation agree on structural cases', async () => {
  const validate = new Ajv2020({ strict: false }).compile(configJsonSchema())
  const example = await readFile(join(REPO_ROOT, 'examples/config.yaml'), 'utf8')
  for (const [name, yaml, ok] of [...CASES, ['examples/config.yaml', example, true] as const]) {
    assert.equal(validate(parse(yaml)), ok, `schema on ${name}`)
    assert.equal(runtimeOk(yaml), ok, `runtime on ${name}`)
  }
})
