import { Lru } from '../shared/lru.js'
import type { RunnerTokensConfig } from './config-schema.js'

interface Entry<T> {
  readonly credential: T
  /** The key that decrypted it: the entry counts only while that key is loaded. */
  readonly kid: string | undefined
  readonly expiresAt: number
}

/**
 * Decryption results by token digest (never the token: a heap dump must not yield usable
 * tokens): successes for ttl_seconds (never past the token's exp), failures briefly in a bounded
 * LRU of their own, so garbage cannot push out good sessions.
 */
export class SessionCache<T> {
  private readonly positive: Lru<string, Entry<T>>
  private readonly negative: Lru<string, Entry<T>>

  constructor(private readonly config: RunnerTokensConfig['cache']) {
    this.positive = new Lru(config.max_entries)
    this.negative = new Lru(config.negative_max_entries)
  }

  /** The live entry for `digest`; an expired one, or one whose key is gone, is dropped. */
  get(digest: string, now: number, loadedKids: ReadonlyMap<string, unknown>): T | undefined {
    const hit = this.positive.get(digest) ?? this.negative.get(digest)
    if (hit === undefined) return undefined
    if (hit.expiresAt > now && (hit.kid === undefined || loadedKids.has(hit.kid))) {
      return hit.credential
    }
    this.positive.delete(digest)
    this.negative.delete(digest)
    return undefined
  }

  /** A success, kept ttl_seconds but never past `expiresAt` (a JWE's exp). */
  setValid(digest: string, credential: T, kid: string, now: number, expiresAt?: number): void {
    const ttl = this.config.ttl_seconds * 1000
    const until = Math.min(now + ttl, expiresAt ?? Number.POSITIVE_INFINITY)
    this.positive.set(digest, { credential, kid, expiresAt: until })
  }

  /** A failure, kept negative_ttl_seconds (0: not at all). */
  setFailed(digest: string, credential: T, now: number): void {
    if (this.config.negative_ttl_seconds <= 0) return
    const expiresAt = now + this.config.negative_ttl_seconds * 1000
    this.negative.set(digest, { credential, kid: undefined, expiresAt })
  }

  /** Forgets the failures (a token that failed may decrypt with a key that just appeared). */
  clearFailed(): void {
    this.negative.clear()
  }

  get size(): number {
    return this.positive.size + this.negative.size
  }

  get evictions(): number {
    return this.positive.evictions + this.negative.evictions
  }
}
