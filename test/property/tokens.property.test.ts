import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { before, describe, test } from 'node:test'
import fc from 'fast-check'
import { RunnerTokensSchema } from '../../src/tokens/config-schema.js'
import {
  type DecryptOutcome,
  decryptRunnerToken,
  tokenOptions,
} from '../../src/tokens/decrypt-runner-token.js'
import { importRunnerKey, type Keyring } from '../../src/tokens/keyring.js'
import { createRunnerJwe, createRunnerToken } from '../../src/tokens/runner.js'
import { RunnerTokenResolver } from '../../src/tokens/runner-token-resolver.js'
import { RUNS } from './budget.js'

// Token decoding on hostile input. Invariants: nothing throws; anything that is not a real token
// fails as the one uniform token_invalid (no decryption oracle); a damaged real token never
// decrypts to a different session id (it may survive only a change base64 ignores).
const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})
const config = RunnerTokensSchema.parse({ private_keys: ['x'] })
const opts = tokenOptions(config)
const INVALID: DecryptOutcome = { ok: false, reason: 'token_invalid' }
const SESSION = 'sess-42'
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_='.split('')

const b64url = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('base64url'))
const garbage = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...B64), minLength: 1, maxLength: 700 }),
  // The exact length of a 2048-bit ciphertext: reaches the RSA operation itself.
  fc.uint8Array({ minLength: 256, maxLength: 256 }).map((b) => Buffer.from(b).toString('base64')),
  fc.tuple(b64url(20), b64url(256), b64url(12), b64url(40), b64url(16)).map((p) => p.join('.')),
  fc.nat({ max: 70_000 }).map((n) => 'A'.repeat(n)),
)

/** A real token damaged: truncated, extended, or one character replaced. */
function damaged(real: string) {
  return fc.oneof(
    fc.nat({ max: real.length - 1 }).map((i) => real.slice(0, i)),
    fc
      .string({ unit: fc.constantFrom(...B64, '.'), minLength: 1, maxLength: 40 })
      .map((s) => real + s),
    fc
      .tuple(fc.nat({ max: real.length - 1 }), fc.constantFrom(...B64, '.', '!'))
      .filter(([i, c]) => real[i] !== c)
      .map(([i, c]) => real.slice(0, i) + c + real.slice(i + 1)),
  )
}

describe('runner token decoding properties', () => {
  let keyring: Keyring
  let raw: string
  let jwe: string
  before(async () => {
    const k = await importRunnerKey(privateKey, 'mem.pem')
    keyring = { current: k, keys: [k], byKid: new Map([[k.kid, k]]), loadedAt: 0 }
    raw = createRunnerToken(publicKey, SESSION)
    jwe = await createRunnerJwe(publicKey, SESSION, { ttlSeconds: 3600 })
  })

  // Both RSA paths: WebCrypto on the thread pool, and node:crypto on the event loop (a
  // process with one core to itself).
  for (const rsaOnEventLoop of [false, true]) {
    const options = { ...opts, rsaOnEventLoop }
    const where = rsaOnEventLoop ? 'event loop' : 'thread pool'
    test(`${where}: random strings, bytes, base64, JWE-shaped and huge values: token_invalid, never a throw`, async () => {
      await fc.assert(
        fc.asyncProperty(garbage, async (t) => {
          assert.deepEqual(await decryptRunnerToken(t, keyring, options), INVALID)
        }),
        { numRuns: RUNS },
      )
    })

    test(`${where}: truncated, extended or altered real tokens (raw and JWE): never another session`, async () => {
      const sameOrInvalid = (o: DecryptOutcome) =>
        o.ok ? o.sessionId === SESSION : o.reason === 'token_invalid'
      await fc.assert(
        fc.asyncProperty(fc.oneof(damaged(raw), damaged(jwe)), async (t) => {
          const o = await decryptRunnerToken(t, keyring, options)
          assert.ok(sameOrInvalid(o), JSON.stringify(o))
        }),
        { numRuns: RUNS },
      )
    })
  }

  test('through the resolver: over-long values are refused before any decryption', async () => {
    const resolver = new RunnerTokenResolver(keyring, config)
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 100_000 }), async (extra) => {
        const t = raw + 'A'.repeat(config.max_token_bytes - raw.length + 1 + extra)
        const x = resolver.resolve({ bearer: t } as Parameters<typeof resolver.resolve>[0])
        assert.ok(!(x instanceof Promise))
        assert.equal(x.state === 'failed' && x.reason, 'token_invalid')
      }),
      { numRuns: Math.min(RUNS, 200) },
    )
    assert.equal(resolver.stats().decryptions, 0)
  })
})
