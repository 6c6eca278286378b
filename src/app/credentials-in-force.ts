import type { TokenStats } from '../tokens/runner-token-resolver.js'
import type { Credentials } from './build-credentials.js'

const TOKEN_COUNTERS = [
  'hits',
  'misses',
  'coalesced',
  'overloaded',
  'decryptions',
  'decryptSeconds',
  'cacheEvictions',
] as const

type RetiredTokenStats = Pick<TokenStats, (typeof TOKEN_COUNTERS)[number]>

/** `a` with the counters `keys` of `b` added (retired credentials' counts stay in the metrics). */
function addCounts<T extends object, K extends keyof T>(
  a: T,
  b: Pick<T, K> | undefined,
  keys: readonly K[],
): T {
  if (b === undefined) return a
  const out = { ...a }
  for (const k of keys) (out[k] as number) = (a[k] as number) + (b[k] as number)
  return out
}

/**
 * The runner-token keys and session registry of the config in force. A reload that replaces
 * them keeps the counts of the ones it retired, so the counters never go back.
 */
export class CredentialsInForce {
  private retiredTokenStats: RetiredTokenStats | undefined
  private retiredKeyReloads = { ok: 0, failed: 0 }
  private wire: (c: Credentials) => void = () => {}
  private closed = false

  constructor(private credentials: Credentials) {}

  get current(): Credentials {
    return this.credentials
  }

  /** Runs `wire` on the credentials in force now and on every later replacement. */
  wireEach(wire: (c: Credentials) => void): void {
    this.wire = wire
    wire(this.credentials)
  }

  /** Puts `next` in force and closes the retired ones (streams that hold them finish with them). */
  replace(next: Credentials): void {
    this.wire(next)
    const old = this.credentials
    const oldStats = old.tokens?.resolver.stats()
    if (oldStats !== undefined) {
      this.retiredTokenStats = addCounts(oldStats, this.retiredTokenStats, TOKEN_COUNTERS)
    }
    const oldReloads = old.tokens?.reloads()
    if (oldReloads !== undefined) {
      this.retiredKeyReloads = addCounts(this.retiredKeyReloads, oldReloads, ['ok', 'failed'])
    }
    this.credentials = next
    // Streams that took the old snapshot finish with its resolver; only watchers stop.
    old.close()
  }

  /** Key file reloads since start, retired keyrings included. */
  keyReloads(): { ok: number; failed: number } {
    const now = this.credentials.tokens?.reloads() ?? { ok: 0, failed: 0 }
    return addCounts(this.retiredKeyReloads, now, ['ok', 'failed'])
  }

  /** Token cache and decryption counts since start; undefined without runner tokens. */
  tokenStats(): TokenStats | undefined {
    const now = this.credentials.tokens?.resolver.stats()
    return now === undefined ? undefined : addCounts(now, this.retiredTokenStats, TOKEN_COUNTERS)
  }

  /** Closes the credentials in force; a second call does nothing. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.credentials.close()
  }
}
