import { constants, privateDecrypt, webcrypto } from 'node:crypto'
import { errors, jwtDecrypt } from 'jose'
import { AuthzError } from '../shared/errors.js'
import type { RunnerTokensConfig } from './config-schema.js'
import type { Keyring, RunnerKey } from './keyring.js'

export interface TokenOptions {
  readonly sessionClaim: string
  readonly encryptions: readonly string[]
  readonly audience?: string | undefined
  readonly issuer?: string | undefined
  readonly clockToleranceSeconds: number
  readonly sessionPattern: RegExp
  readonly sessionMaxLength: number
  /**
   * Raw tokens under keys of at most EVENT_LOOP_MAX_BITS: RSA on the calling thread
   * (node:crypto privateDecrypt, synchronous) instead of WebCrypto on the libuv thread pool. For
   * a process that has one core to itself, where a pool thread only competes with the event loop
   * for it (the resolver paces these: see RunnerTokenResolver's nextBatchEnd).
   */
  readonly rsaOnEventLoop?: boolean
}

/** The decryption options a runner_tokens config gives (its regular expression compiled once). */
export function tokenOptions(config: RunnerTokensConfig, rsaOnEventLoop = false): TokenOptions {
  return {
    sessionClaim: config.jwe.session_claim,
    encryptions: config.jwe.encryptions,
    audience: config.jwe.audience,
    issuer: config.jwe.issuer,
    clockToleranceSeconds: config.jwe.clock_tolerance_seconds,
    sessionPattern: new RegExp(config.session_id.pattern),
    sessionMaxLength: config.session_id.max_length,
    rsaOnEventLoop,
  }
}

export type DecryptOutcome =
  | {
      readonly ok: true
      readonly sessionId: string
      readonly kid: string
      /** JWE exp in ms since the epoch; undefined for raw tokens. */
      readonly expiresAt: number | undefined
    }
  | {
      readonly ok: false
      readonly reason: 'token_invalid' | 'token_expired' | 'session_id_invalid'
    }

// Every way a token fails to decrypt ends here: one value, one code path, no detail. A
// decryption oracle (Manger's attack on RSA-OAEP) needs failures that differ.
const INVALID: DecryptOutcome = { ok: false, reason: 'token_invalid' }
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function base64Decode(token: string): Buffer | undefined {
  if (!BASE64.test(token)) return undefined
  const body = token.replace(/=+$/, '')
  if (body.length % 4 === 1) return undefined
  // Node's decoder accepts both alphabets and optional padding.
  return Buffer.from(body.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

function checkSession(sessionId: unknown, opts: TokenOptions): sessionId is string {
  return (
    typeof sessionId === 'string' &&
    sessionId.length > 0 &&
    sessionId.length <= opts.sessionMaxLength &&
    opts.sessionPattern.test(sessionId)
  )
}

const OAEP_SHA256 = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const

/**
 * Largest key decrypted on the event loop (rsaOnEventLoop). An RSA-2048 operation holds the loop
 * ~0.8 ms; RSA-4096 holds it 5-6 ms, and on one core that doubled the cached p50 during a flood
 * (1.5-1.9 -> 4.0 ms, same run) for little throughput: larger keys stay on the thread pool.
 */
export const EVENT_LOOP_MAX_BITS = 2048

async function decryptRaw(
  ciphertext: Buffer,
  keyring: Keyring,
  onEventLoop: boolean,
): Promise<[string, RunnerKey] | undefined> {
  // Current key first, then previous ones; only keys whose modulus fits the ciphertext.
  for (const key of keyring.keys) {
    if (key.ciphertextBytes !== ciphertext.length) continue
    try {
      // Either way OpenSSL's RSA-OAEP (SHA-256 for OAEP and MGF1, empty label) does the work.
      // WebCrypto runs it on the libuv thread pool: the event loop keeps serving meanwhile.
      const plain =
        onEventLoop && key.bits <= EVENT_LOOP_MAX_BITS
          ? privateDecrypt({ key: key.privateKey, ...OAEP_SHA256 }, ciphertext)
          : await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, key.cryptoKey, ciphertext)
      return [utf8.decode(plain), key]
    } catch {
      // try the next key; a failure is reported once, below, whatever the cause
    }
  }
  return undefined
}

/**
 * Decrypts a runner token: a compact JWE (RSA-OAEP-256) when it has five dot-separated parts,
 * otherwise raw base64 RSA-OAEP-SHA256. The caller has already bounded its length.
 */
export async function decryptRunnerToken(
  token: string,
  keyring: Keyring,
  opts: TokenOptions,
  now: () => number = Date.now,
): Promise<DecryptOutcome> {
  try {
    if (token.split('.').length === 5) return await decryptJwe(token, keyring, opts, now)
    const ciphertext = base64Decode(token)
    if (ciphertext === undefined) return INVALID
    const result = await decryptRaw(ciphertext, keyring, opts.rsaOnEventLoop === true)
    if (result === undefined) return INVALID
    const [sessionId, key] = result
    if (!checkSession(sessionId, opts)) return { ok: false, reason: 'session_id_invalid' }
    return { ok: true, sessionId, kid: key.kid, expiresAt: undefined }
  } catch {
    return INVALID
  }
}

async function decryptJwe(
  token: string,
  keyring: Keyring,
  opts: TokenOptions,
  now: () => number,
): Promise<DecryptOutcome> {
  let used: RunnerKey | undefined
  try {
    const { payload } = await jwtDecrypt(
      token,
      (header) => {
        // kid selects the key; without one, the current key. jose's JWKS helpers are for
        // signature keys, so the lookup is ours.
        used = header.kid === undefined ? keyring.current : keyring.byKid.get(header.kid)
        if (used === undefined) throw new AuthzError('ERR_TOKEN_KID_UNKNOWN', 'unknown kid')
        return used.cryptoKey
      },
      {
        keyManagementAlgorithms: ['RSA-OAEP-256'],
        contentEncryptionAlgorithms: [...opts.encryptions],
        requiredClaims: ['exp'],
        audience: opts.audience,
        issuer: opts.issuer,
        clockTolerance: opts.clockToleranceSeconds,
        currentDate: new Date(now()),
      },
    )
    const sessionId = payload[opts.sessionClaim]
    if (sessionId === undefined) return INVALID
    if (!checkSession(sessionId, opts) || used === undefined) {
      return { ok: false, reason: 'session_id_invalid' }
    }
    return { ok: true, sessionId, kid: used.kid, expiresAt: (payload.exp as number) * 1000 }
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token_expired' }
    return INVALID
  }
}
