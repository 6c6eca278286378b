import { hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { AMBIGUOUS, type RequestFacts } from '../authz/request-facts.js'
import type { RunnerCredential, RunnerCredentialResolver } from '../authz/runner-credential.js'
import type { RunnerTokensConfig } from '../config/runner-tokens-schema.js'
import {
  type DecryptOutcome,
  decryptRunnerToken,
  type TokenOptions,
  tokenOptions,
} from './decrypt-runner-token.js'
import type { Keyring } from './keyring.js'
import { Lru } from './lru.js'

interface CacheEntry {
  readonly credential: RunnerCredential
  readonly kid: string | undefined
  readonly expiresAt: number
}

export interface TokenStats {
  hits: number
  misses: number
  coalesced: number
  overloaded: number
  decryptions: number
  decryptSeconds: number
  pending: number
  /** Decryptions on the thread pool right now (at most one per core the process may use). */
  running: number
  cacheEntries: number
  cacheEvictions: number
  keysLoaded: number
  keyringLoadedAt: number
}

const ABSENT: RunnerCredential = { state: 'absent' }
const AMBIGUOUS_TOKEN: RunnerCredential = {
  state: 'failed',
  reason: 'token_invalid',
  detail: 'several Authorization headers',
}
const OVERLOADED: RunnerCredential = {
  state: 'failed',
  reason: 'overloaded',
  detail: 'decryption queue full',
}

function toCredential(o: DecryptOutcome): RunnerCredential {
  if (o.ok) return { state: 'valid', sessionId: o.sessionId, keyId: o.kid }
  return { state: 'failed', reason: o.reason, detail: `runner token: ${o.reason}` }
}

/** Decryptions one of `processes` serving processes runs at once: its share of the cores. */
export function decryptionSlots(processes: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, processes)))
}

/**
 * Turns the bearer token into a runner credential. Cache hits return synchronously; misses
 * decrypt off the event loop behind a bounded queue, one decryption per distinct token.
 */
export class RunnerTokenResolver implements RunnerCredentialResolver {
  private keyring: Keyring
  private readonly opts: TokenOptions
  private readonly positive: Lru<string, CacheEntry>
  private readonly negative: Lru<string, CacheEntry>
  private readonly inFlight = new Map<string, Promise<RunnerCredential>>()
  /** Called with each decryption's duration, queue wait included (the metrics histogram). */
  onDecryption: ((seconds: number) => void) | undefined
  /**
   * RSA jobs handed to the thread pool at once: one per core this process may run on
   * (affinity-aware). libuv's pool has 4 threads; on one core, 4 RSA threads against the event
   * loop left it a fifth of the CPU, and cached requests queued behind a flood of unique
   * tokens. With one job per core, the event loop runs between jobs (it starts the next one),
   * so a cached request waits at most about one RSA operation; throughput is the same, as the
   * core stays busy either way. With `workers: N` processes share the cores, so each takes
   * its share (decryptionSlots).
   */
  private readonly maxRunning: number
  private running = 0
  private readonly waiting: Array<() => void> = []
  private readonly counters = {
    hits: 0,
    misses: 0,
    coalesced: 0,
    overloaded: 0,
    decryptions: 0,
    decryptSeconds: 0,
  }

  constructor(
    keyring: Keyring,
    private readonly config: RunnerTokensConfig,
    private readonly now: () => number = Date.now,
    maxRunning = decryptionSlots(1),
  ) {
    this.maxRunning = maxRunning
    this.keyring = keyring
    this.opts = tokenOptions(config, maxRunning === 1)
    this.positive = new Lru(config.cache.max_entries)
    this.negative = new Lru(config.cache.negative_max_entries)
  }

  get currentKeyring(): Keyring {
    return this.keyring
  }

  /** Swaps in a new keyring; cached results from keys it no longer holds stop counting. */
  setKeyring(next: Keyring): void {
    this.keyring = next
    this.negative.clear() // a token that failed may decrypt with a key that just appeared
  }

  resolve(facts: RequestFacts): RunnerCredential | Promise<RunnerCredential> {
    const token = facts.bearer
    if (token === undefined) return ABSENT
    if (token === AMBIGUOUS) return AMBIGUOUS_TOKEN
    if (token.length > this.config.max_token_bytes) {
      return toCredential({ ok: false, reason: 'token_invalid' })
    }
    // The cache key is a digest, never the token: a heap dump must not yield usable tokens.
    // One-shot hash(): no Hash object per request (1.1 µs against 2.1 µs for createHash here).
    const digest = hash('sha256', token, 'base64')
    const now = this.now()
    const hit = this.positive.get(digest) ?? this.negative.get(digest)
    if (hit !== undefined) {
      if (hit.expiresAt > now && (hit.kid === undefined || this.keyring.byKid.has(hit.kid))) {
        this.counters.hits++
        return hit.credential
      }
      this.positive.delete(digest)
      this.negative.delete(digest)
    }
    const pending = this.inFlight.get(digest)
    if (pending !== undefined) {
      this.counters.coalesced++
      return pending
    }
    if (this.inFlight.size >= this.config.max_pending_decryptions) {
      this.counters.overloaded++
      return OVERLOADED
    }
    this.counters.misses++
    const started = performance.now()
    const keyring = this.keyring
    const promise = this.limited(() =>
      decryptRunnerToken(token, keyring, this.opts, this.now),
    ).then((outcome) => {
      this.inFlight.delete(digest)
      const seconds = (performance.now() - started) / 1000
      this.counters.decryptions++
      this.counters.decryptSeconds += seconds
      this.onDecryption?.(seconds)
      const credential = toCredential(outcome)
      this.remember(digest, outcome, credential)
      return credential
    })
    this.inFlight.set(digest, promise)
    return promise
  }

  /** Runs `job` when one of the maxRunning slots is free; a finished job hands its slot on. */
  private async limited<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.maxRunning) this.running++
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    // One core: decryptions run on the event loop, one per turn, and the I/O polled between
    // two of them is answered first (a cached request waits at most one RSA operation).
    if (this.opts.rsaOnEventLoop === true)
      await new Promise<void>((resolve) => setImmediate(resolve))
    try {
      return await job()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.running--
    }
  }

  private remember(digest: string, outcome: DecryptOutcome, credential: RunnerCredential): void {
    const now = this.now()
    if (outcome.ok) {
      const ttl = this.config.cache.ttl_seconds * 1000
      // Never outlive the JWE's exp.
      const expiresAt = Math.min(now + ttl, outcome.expiresAt ?? Number.POSITIVE_INFINITY)
      this.positive.set(digest, { credential, kid: outcome.kid, expiresAt })
    } else if (this.config.cache.negative_ttl_seconds > 0) {
      // Failures are cached briefly and boundedly, so garbage cannot fill memory.
      const expiresAt = now + this.config.cache.negative_ttl_seconds * 1000
      this.negative.set(digest, { credential, kid: undefined, expiresAt })
    }
  }

  stats(): TokenStats {
    return {
      ...this.counters,
      pending: this.inFlight.size,
      running: this.running,
      cacheEntries: this.positive.size + this.negative.size,
      cacheEvictions: this.positive.evictions + this.negative.evictions,
      keysLoaded: this.keyring.keys.length,
      keyringLoadedAt: this.keyring.loadedAt,
    }
  }
}
