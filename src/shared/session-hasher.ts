import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BoundedMemo } from './bounded-memo.js'
import { AuthzError } from './errors.js'

/** HMAC-SHA-256 keys shorter than its 32-byte output would weaken it (RFC 2104 §3). */
export const MIN_HASH_KEY_BYTES = 32
/** A key file is a few dozen bytes; anything much larger is the wrong file. */
export const MAX_HASH_KEY_FILE_BYTES = 4096
/** Hex characters of the HMAC kept: 64 bits tell apart billions of sessions in one log. */
const HASH_HEX_CHARS = 16

/** Longest value whose hash is remembered: a SPIFFE ID (2048) is the longest that repeats. */
const MAX_MEMO_VALUE_LENGTH = 2048
/** Bytes the memo of hashes holds at most. */
const MEMO_BYTES = 512 * 1024

/** A key file that cannot serve as the log hash key. The message never quotes the key. */
export class HashKeyError extends AuthzError {
  static readonly code = 'ERR_HASH_KEY'
  /** The one config key that names a log hash key file. */
  static readonly keyPath = 'logging.hash_key_file'
  override readonly name = 'HashKeyError'
  override readonly file: string
  constructor(file: string, problem: string) {
    super(HashKeyError.code, problem, { file, keyPath: HashKeyError.keyPath })
    this.file = file
    // The published wording: key, file, problem.
    this.message = `${HashKeyError.keyPath} ${file}: ${problem}`
  }
}

/** 32 bytes from the CSPRNG: the key of a deployment that configures none (one per start). */
export function randomHashKey(): Buffer {
  return randomBytes(MIN_HASH_KEY_BYTES)
}

/**
 * Bytes of key material: all of a binary key; for a text key (printable ASCII), what is left
 * without trailing whitespace (the newline `echo` or an editor adds is not material).
 */
function materialBytes(key: Uint8Array): number {
  for (const b of key) {
    if ((b < 0x20 || b > 0x7e) && b !== 0x09 && b !== 0x0a && b !== 0x0d) return key.length
  }
  let end = key.length
  while (end > 0 && (key[end - 1] === 0x0a || key[end - 1] === 0x0d || key[end - 1] === 0x20)) {
    end--
  }
  return end
}

function keyProblem(key: Uint8Array): string | undefined {
  const n = materialBytes(key)
  if (n === 0) return 'is empty'
  if (n < MIN_HASH_KEY_BYTES) {
    return `holds ${n} bytes of key material, fewer than ${MIN_HASH_KEY_BYTES} (e.g. \`openssl rand -base64 48\`)`
  }
  return undefined
}

/**
 * Reads a log hash key file: its bytes as they are (a trailing newline included), at most
 * MAX_HASH_KEY_FILE_BYTES, at least MIN_HASH_KEY_BYTES of key material (materialBytes). A regular
 * file only: a device such as /dev/urandom would give every worker and restart another key.
 */
export async function readHashKeyFile(file: string): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(file, 'r')
    const st = await handle.stat()
    if (!st.isFile()) throw new HashKeyError(file, 'is not a regular file')
    if (st.size > MAX_HASH_KEY_FILE_BYTES) {
      throw new HashKeyError(file, `is larger than ${MAX_HASH_KEY_FILE_BYTES} bytes`)
    }
    // One byte more than allowed: a file that grew after the stat is still caught.
    const buf = Buffer.alloc(MAX_HASH_KEY_FILE_BYTES + 1)
    let got = 0
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got)
      if (bytesRead === 0) break
      got += bytesRead
      if (got === buf.length) break
    }
    if (got > MAX_HASH_KEY_FILE_BYTES) {
      throw new HashKeyError(file, `is larger than ${MAX_HASH_KEY_FILE_BYTES} bytes`)
    }
    const key = buf.subarray(0, got)
    const problem = keyProblem(key)
    if (problem !== undefined) throw new HashKeyError(file, problem)
    return Buffer.from(key)
  } catch (err) {
    if (err instanceof HashKeyError) throw err
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw new HashKeyError(file, `cannot be read (${code})`)
  } finally {
    await handle?.close()
  }
}

/**
 * The keyed hash of session ids and path captures in logs (and in any other output that must
 * let operators correlate a session without revealing it): HMAC-SHA-256 under a per-deployment
 * key, the first HASH_HEX_CHARS hex characters. Without the key a guessable id cannot be
 * confirmed from its hash; with the same key every worker and restart gives the same hash.
 * The key is held as a KeyObject, never logged or exposed. Hashes are remembered per key
 * (bounded by bytes): a runner sends its session on every request.
 */
export class SessionHasher {
  private memo!: BoundedMemo<string>
  private keys = 0

  /** Changes with every key: what caches hashes (whole answers) compares it to drop stale ones. */
  get generation(): number {
    return this.keys
  }

  constructor(key: Uint8Array) {
    this.setKey(key)
  }

  /** The keyed hash of `value`: 16 lower-case hex characters. */
  hash(value: string): string {
    return this.memo.get(value)
  }

  /** Replaces the key (hashes made under the old key no longer match new ones). */
  setKey(key: Uint8Array): void {
    // Raw length only: a random key is binary (readHashKeyFile judges text keys' material).
    if (key.length < MIN_HASH_KEY_BYTES) {
      throw new AuthzError(
        'ERR_HASH_KEY',
        `a log hash key needs at least ${MIN_HASH_KEY_BYTES} bytes`,
      )
    }
    const k: KeyObject = createSecretKey(key)
    this.keys++
    this.memo = new BoundedMemo(
      (value) => createHmac('sha256', k).update(value).digest('hex').slice(0, HASH_HEX_CHARS),
      { maxBytes: MEMO_BYTES, maxKeyLength: MAX_MEMO_VALUE_LENGTH },
    )
  }

  /** Bytes the memo of hashes holds now (at most 512 KiB). */
  memoBytes(): number {
    return this.memo.bytes
  }

  /** No key material in logs or inspection output, whatever prints this object. */
  toJSON(): string {
    return 'SessionHasher'
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'SessionHasher {}'
  }
}
