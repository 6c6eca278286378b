import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { generatedFiles, REPO_ROOT } from '../../src/config/write-generated.js'

test('committed schema and config reference match the zod schema (run make schema)', async () => {
  for (const [path, expected] of await generatedFiles()) {
    const committed = await readFile(join(REPO_ROOT, path), 'utf8')
    assert.equal(committed, expected, `${path} is stale: run make schema and commit it`)
  }
})
