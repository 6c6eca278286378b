import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { inspect } from 'node:util'
import {
  HashKeyError,
  MAX_HASH_KEY_FILE_BYTES,
  MIN_HASH_KEY_BYTES,
  randomHashKey,
  readHashKeyFile,
  SessionHasher,
} from '../../src/shared/session-hasher.js'

const KEY = Buffer.from('k'.repeat(MIN_HASH_KEY_BYTES))

describe('SessionHasher', () => {
  test('HMAC-SHA-256 under the key, 16 hex characters', () => {
    const h = new SessionHasher(KEY)
    const want = createHmac('sha256', KEY).update('sess-1').digest('hex').slice(0, 16)
    assert.equal(h.hash('sess-1'), want)
    assert.equal(h.hash('sess-1'), want, 'remembered: the same again')
    assert.match(h.hash(''), /^[0-9a-f]{16}$/)
  })

  test('a new key changes every hash at once (remembered hashes are dropped)', () => {
    const h = new SessionHasher(KEY)
    const before = h.hash('sess-1')
    const other = randomHashKey()
    h.setKey(other)
    assert.notEqual(h.hash('sess-1'), before)
    assert.equal(
      h.hash('sess-1'),
      createHmac('sha256', other).update('sess-1').digest('hex').slice(0, 16),
    )
  })

  test('refuses a key shorter than 32 bytes; takes every random key', () => {
    assert.throws(() => new SessionHasher(Buffer.alloc(0)), { code: 'ERR_HASH_KEY' })
    assert.throws(() => new SessionHasher(Buffer.alloc(31, 1)), { code: 'ERR_HASH_KEY' })
    // A random key may end in bytes that look like whitespace (0x0a, 0x0d, 0x20): all 32 count.
    assert.doesNotThrow(
      () => new SessionHasher(Buffer.concat([Buffer.alloc(31, 0xff), Buffer.from('\n')])),
    )
    for (let i = 0; i < 2000; i++) new SessionHasher(randomHashKey())
  })

  test('prints no key material, whatever prints it', () => {
    const key = Buffer.from('SECRET-KEY-MATERIAL-0123456789abcdef')
    const h = new SessionHasher(key)
    for (const text of [JSON.stringify({ h }), inspect(h, { showHidden: true, depth: 9 })]) {
      assert.ok(!text.includes('SECRET'), text)
      assert.ok(!text.includes(key.toString('hex')), text)
    }
  })
})

describe('readHashKeyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hash-key-'))
  const file = (name: string, content: string | Buffer) => {
    const p = join(dir, name)
    writeFileSync(p, content)
    return p
  }

  test('the bytes as they are, a trailing newline included', async () => {
    const text = `${'a'.repeat(40)}\n`
    assert.deepEqual(await readHashKeyFile(file('ok', text)), Buffer.from(text))
  })

  test('a binary key: every byte is material, a last byte 0x0a included', async () => {
    const key = Buffer.concat([Buffer.alloc(31, 0x80), Buffer.from('\n')])
    assert.deepEqual(await readHashKeyFile(file('binary', key)), key)
  })

  const refused: Array<[string, () => string, RegExp]> = [
    ['an empty file', () => file('empty', ''), /is empty/],
    ['only whitespace', () => file('blank', '\n \r\n'), /is empty/],
    [
      '31 bytes and a newline',
      () => file('short', `${'a'.repeat(31)}\n`),
      /31 bytes.*fewer than 32/,
    ],
    [
      'a file larger than the bound',
      () => file('large', 'a'.repeat(MAX_HASH_KEY_FILE_BYTES + 1)),
      /larger than 4096 bytes/,
    ],
    ['a missing file', () => join(dir, 'missing'), /cannot be read \(ENOENT\)/],
    ['a directory', () => dir, /not a regular file|cannot be read \(EISDIR\)/],
    ['a device (another key on every read)', () => '/dev/urandom', /not a regular file/],
  ]
  for (const [name, path, message] of refused) {
    test(`refuses ${name}, naming the key and the file`, async () => {
      const p = path()
      await assert.rejects(readHashKeyFile(p), (err: unknown) => {
        assert.ok(err instanceof HashKeyError)
        assert.equal(err.code, 'ERR_HASH_KEY')
        assert.match(err.message, /^logging\.hash_key_file /)
        assert.ok(err.message.includes(p))
        assert.match(err.message, message)
        return true
      })
    })
  }

  test('a refused key is never quoted in the error', async () => {
    const secret = 'short-secret-key'
    await assert.rejects(readHashKeyFile(file('quoted', secret)), (err: Error) => {
      assert.ok(!err.message.includes(secret))
      return true
    })
  })
})
