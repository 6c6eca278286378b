import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { Config } from '../../src/config/schema.js'
import { startHashKeySource } from '../../src/observe/hash-key-source.js'
import { createLogger } from '../../src/shared/logger.js'
import { randomHashKey } from '../../src/shared/session-hasher.js'
import { waitUntil } from '../helpers/wait-until.js'

const hmac = (key: string | Buffer, v: string) =>
  createHmac('sha256', key).update(v).digest('hex').slice(0, 16)

const logging = (hashKeyFile: string | undefined): Config['logging'] => ({
  level: 'info',
  ...(hashKeyFile === undefined ? {} : { hash_key_file: hashKeyFile }),
  decisions: { allow_level: 'info', deny_level: 'warn', sample_allow: 1, sample_deny: 1 },
})

describe('startHashKeySource', () => {
  test('a config reload that read the file before the watcher did does not bring back the older key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hash-src-'))
    const file = join(dir, 'k')
    const put = (content: string) => {
      writeFileSync(`${file}.tmp`, content)
      renameSync(`${file}.tmp`, file)
    }
    const k1 = 'key one: thirty-two bytes of material at least'
    const k2 = 'key two: thirty-two bytes of material at least'
    put(k1)
    const src = await startHashKeySource(logging(file), randomHashKey(), createLogger('silent'))
    try {
      assert.equal(src.hasher.hash('s'), hmac(k1, 's'))
      const commit = await src.prepare(logging(file)) // reads k1
      put(k2)
      await waitUntil(() => src.hasher.hash('s') === hmac(k2, 's'), 'the watcher applying k2')
      commit()
      assert.equal(src.hasher.hash('s'), hmac(k2, 's'))
    } finally {
      src.close()
    }
  })

  test('prepare reads but applies nothing; a bad file rejects; no file means the fallback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hash-src-'))
    const a = join(dir, 'a')
    const b = join(dir, 'b')
    const kA = 'key a: thirty-two bytes of material at least'
    const kB = 'key b: thirty-two bytes of material at least'
    writeFileSync(a, kA)
    writeFileSync(b, kB)
    const fallback = randomHashKey()
    const src = await startHashKeySource(logging(a), fallback, createLogger('silent'), {
      watch: false,
    })
    try {
      const toB = await src.prepare(logging(b))
      assert.equal(src.hasher.hash('s'), hmac(kA, 's'), 'not applied before the commit')
      toB()
      assert.equal(src.hasher.hash('s'), hmac(kB, 's'))
      writeFileSync(a, 'short')
      await assert.rejects(src.prepare(logging(a)), /logging\.hash_key_file .*: holds 5 bytes/)
      assert.equal(src.hasher.hash('s'), hmac(kB, 's'))
      ;(await src.prepare(logging(undefined)))()
      assert.equal(src.hasher.hash('s'), hmac(fallback, 's'))
    } finally {
      src.close()
    }
  })
})
