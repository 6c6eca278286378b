import {
  createPrivateKey,
  createPublicKey,
  type JsonWebKey,
  KeyObject,
  webcrypto,
} from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { AuthzError, EXIT_USAGE } from '../shared/errors.js'

/** NIST SP 800-131A: RSA below 2048 bits is no longer acceptable. */
const MIN_RSA_BITS = 2048
/** A PEM private key file is a few KiB; bound the read. */
const MAX_KEY_FILE_BYTES = 64 * 1024

/**
 * A key file that cannot be used. Exit 2 when it was named on the command line (unreadable
 * input); `index` is its position in the list of files loaded (runner_tokens.private_keys).
 */
export class KeyLoadError extends AuthzError {
  static readonly code = 'ERR_KEY_INVALID'
  override readonly name = 'KeyLoadError'
  /** Its position in the list of key files loaded, when loaded from one. */
  readonly index: number | undefined
  /** The file could not be read at all: the hint about key formats does not apply. */
  readonly unreadable: boolean
  constructor(
    file: string,
    problem: string,
    { index, unreadable = false }: { index?: number; unreadable?: boolean } = {},
  ) {
    super(KeyLoadError.code, problem, {
      file,
      exitCode: EXIT_USAGE,
      ...(unreadable ? {} : { hint: KEY_HINT }),
    })
    this.index = index
    this.unreadable = unreadable
  }
}

function unreadableKey(file: string, err: unknown): KeyLoadError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  return new KeyLoadError(file, `cannot read (${code})`, { unreadable: true })
}

const KEY_HINT = "give the private.pem 'keys generate' wrote; a public key cannot decrypt"

export interface RunnerKey {
  /** RFC 7638 thumbprint of the public key: what JWE `kid` names. */
  readonly kid: string
  readonly bits: number
  /** Ciphertext length of this key in bytes (the modulus size). */
  readonly ciphertextBytes: number
  /** Imported once: RSA-OAEP with SHA-256 for OAEP and MGF1, usable by WebCrypto and jose. */
  readonly cryptoKey: webcrypto.CryptoKey
  /** The same key for node:crypto's synchronous privateDecrypt (decryption on the event loop). */
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly file: string
}

export interface Keyring {
  /** The key `keys public` prints and new tokens should use. */
  readonly current: RunnerKey
  /** Current first, then previous keys, still accepted during a rotation. */
  readonly keys: readonly RunnerKey[]
  readonly byKid: ReadonlyMap<string, RunnerKey>
  readonly loadedAt: number
}

/** Parses one PEM (PKCS#8 or PKCS#1) into a RunnerKey. Called at load time, never per request. */
export async function importRunnerKey(
  pem: string | Buffer | KeyObject,
  file: string,
  jwkKid?: string,
): Promise<RunnerKey> {
  let key: KeyObject
  try {
    key = pem instanceof KeyObject ? pem : createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    throw new KeyLoadError(file, 'not a PEM private key (expected PKCS#8 or PKCS#1)')
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new KeyLoadError(file, `expected an RSA key, found ${key.asymmetricKeyType ?? 'unknown'}`)
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_RSA_BITS) {
    throw new KeyLoadError(file, `RSA key of ${bits} bits is too small: at least ${MIN_RSA_BITS}`)
  }
  // jose and WebCrypto take PKCS#8 only: convert PKCS#1 through node:crypto.
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' })
  const cryptoKey = await webcrypto.subtle.importKey(
    'pkcs8',
    pkcs8,
    { name: 'RSA-OAEP', hash: 'SHA-256' },
    false,
    ['decrypt', 'unwrapKey'],
  )
  const publicKey = createPublicKey(key)
  const kid =
    jwkKid ?? (await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256'))
  return {
    kid,
    bits,
    ciphertextBytes: Math.ceil(bits / 8),
    cryptoKey,
    privateKey: key,
    publicKey,
    file,
  }
}

/** A JWKS file ({"keys": [...]}) of RSA private JWKs; each key's `kid` is kept if present. */
async function importJwks(text: string, file: string): Promise<RunnerKey[]> {
  let keys: unknown
  try {
    keys = (JSON.parse(text) as { keys?: unknown }).keys
  } catch {
    throw new KeyLoadError(file, 'not valid JSON')
  }
  if (!Array.isArray(keys) || keys.length === 0)
    throw new KeyLoadError(file, 'expected a JWKS with a non-empty "keys" list')
  return Promise.all(
    keys.map(async (jwk: JWK, i) => {
      if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string') {
        throw new KeyLoadError(file, `keys[${i}]: expected an RSA private key (kty RSA with "d")`)
      }
      let key: KeyObject
      try {
        key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
      } catch {
        throw new KeyLoadError(file, `keys[${i}]: not a usable RSA private JWK`)
      }
      return importRunnerKey(
        key,
        `${file}#keys[${i}]`,
        typeof jwk.kid === 'string' ? jwk.kid : undefined,
      )
    }),
  )
}

/** Reads one key file: PEM (PKCS#8 or PKCS#1), or a JWKS (first key first). */
async function loadKeyFileKeys(file: string): Promise<RunnerKey[]> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw unreadableKey(file, err)
  }
  if (buf.length > MAX_KEY_FILE_BYTES) throw new KeyLoadError(file, 'file too large for a key')
  const text = buf.toString('utf8')
  if (text.trimStart().startsWith('{')) return importJwks(text, file)
  return [await importRunnerKey(buf, file)]
}

export async function loadKeyFile(file: string): Promise<RunnerKey> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw unreadableKey(file, err)
  }
  if (buf.length > MAX_KEY_FILE_BYTES) throw new KeyLoadError(file, 'file too large for a key')
  return importRunnerKey(buf, file)
}

/** Loads every key file; all must be valid, or the whole keyring is refused. */
export async function loadKeyring(files: readonly string[], now = Date.now()): Promise<Keyring> {
  const keys = (
    await Promise.all(
      files.map((file, i) =>
        loadKeyFileKeys(file).catch((err: unknown) => {
          // Which entry of the list failed, as data (config check reports its key path).
          if (err instanceof KeyLoadError) {
            throw new KeyLoadError(err.file ?? file, err.problem, {
              index: i,
              unreadable: err.unreadable,
            })
          }
          throw err
        }),
      ),
    )
  ).flat()
  const byKid = new Map<string, RunnerKey>()
  for (const k of keys) if (!byKid.has(k.kid)) byKid.set(k.kid, k)
  return { current: keys[0] as RunnerKey, keys, byKid, loadedAt: now }
}
