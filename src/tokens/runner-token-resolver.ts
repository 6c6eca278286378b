import { hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { AMBIGUOUS, type RequestFacts } from '../authz/request-facts.js'
import type { RunnerCredential, RunnerCredentialResolver } from '../authz/runner-credential.js'
import { Lru } from '../shared/lru.js'
import type { RunnerTokensConfig } from './config-schema.js'
import {
  type DecryptOutcome,
  decryptRunnerToken,
  type TokenOptions,
  tokenOptions,
} from './decrypt-runner-token.js'
import type { Keyring } from './keyring.js'

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

/** Longest a batch of event-loop decryptions holds the loop (nothing else arriving). */
export const BATCH_MS = 5
/** How long only decryptions must have arrived before they are batched. */
const QUIET_MS = 100

/**
 * Turns the bearer token into a runner credential. Cache hits return synchronously; misses
 * decrypt behind a bounded queue, one decryption per distinct token: on the thread pool, or on
 * the event loop itself for a process with one core (see maxRunning and nextBatchEnd).
 */
export class RunnerTokenResolver implements RunnerCredentialResolver {
  private keyring: Keyring
  private readonly opts: TokenOptions
  private readonly positive: Lru<string, CacheEntry>
  private readonly negative: Lru<string, CacheEntry>
  private readonly inFlight = new Map<string, Promise<RunnerCredential>>()
  /**
   * Called with each decryption's duration, from the miss to the credential: queue wait and
   * the rest of its event-loop batch included (the metrics histogram).
   */
  onDecryption: ((seconds: number) => void) | undefined
  /**
   * RSA jobs handed to the thread pool at once: one per core this process may run on
   * (affinity-aware). libuv's pool has 4 threads; on one core, 4 RSA threads against the event
   * loop left it a fifth of the CPU, and cached requests queued behind a flood of unique
   * tokens. With one job per core, the event loop runs between jobs (it starts the next one),
   * so a cached request waits at most about one RSA operation (on the event loop, see
   * nextBatchEnd); throughput is the same, as the core stays busy either way. With
   * `workers: N` processes share the cores, so each takes its share (decryptionSlots).
   */
  private readonly maxRunning: number
  private running = 0
  /** rsaOnEventLoop: until when (this.clock()) this turn's batch may start decryptions. */
  private batchEnd = 0
  /** When other work last arrived (see nextBatchEnd) and the counts it was judged from. */
  private lastOtherAt = Number.NEGATIVE_INFINITY
  private lastStarted = 0
  private lastDecryptionBound = 0
  /**
   * Streams started so far in this process (app/stream-slots.ts counts them at admission). With
   * it, the event loop decrypts in batches while nothing else is arriving; without it, one per
   * turn.
   */
  streamsStarted: (() => number) | undefined
  private readonly waiting: Array<() => void> = []
  /** rsaOnEventLoop: decrypted in this turn's batch, answered when it ends (releaseHeld). */
  private held: Array<() => void> = []
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
    /** The decryption itself (tests observe the order of decryptions and answers through it). */
    private readonly decrypt: typeof decryptRunnerToken = decryptRunnerToken,
    /**
     * The scheduler's clock in milliseconds (batch ends, quiet spells): injected so tests step
     * it and count turns instead of racing the wall clock on a busy machine.
     */
    private readonly clock: () => number = () => performance.now(),
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
    const promise = this.limited(() => this.decrypt(token, keyring, this.opts, this.now)).then(
      (outcome) => {
        this.inFlight.delete(digest)
        const seconds = (performance.now() - started) / 1000
        this.counters.decryptions++
        this.counters.decryptSeconds += seconds
        this.onDecryption?.(seconds)
        const credential = toCredential(outcome)
        this.remember(digest, outcome, credential)
        return credential
      },
    )
    this.inFlight.set(digest, promise)
    return promise
  }

  /** Runs `job` when one of the maxRunning slots is free; a finished job hands its slot on. */
  private async limited<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.maxRunning) this.running++
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    // One core: decryptions run on the event loop, and the I/O polled between two turns'
    // worth of them is answered first. See nextBatchEnd for how many share a turn.
    if (this.opts.rsaOnEventLoop === true && this.clock() >= this.batchEnd) {
      this.releaseHeld()
      await new Promise<void>((resolve) => setImmediate(resolve))
      this.batchEnd = this.nextBatchEnd()
    }
    let result: T
    try {
      result = await job()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else {
        this.running--
        this.batchEnd = 0 // the queue ran dry: the next miss waits for a turn of its own
        this.releaseHeld()
      }
    }
    // A batch answers once its decryptions are done, so the answers run back to back, their
    // code and data not cooled by an RSA operation between each two (same-core A/B,
    // runner-uncached: 1.03x decryptions per CPU-second, 6 rounds 1.02-1.04).
    // Only while the batch goes on (the next job runs in this turn): one per turn, nothing waits.
    if (this.opts.rsaOnEventLoop === true && this.running > 0 && this.clock() < this.batchEnd) {
      // At the latest at the end of this turn: the next job may be one for the thread pool.
      if (this.held.length === 0) setImmediate(this.releaseHeld)
      await new Promise<void>((resolve) => this.held.push(resolve))
    }
    return result
  }

  /** Lets the answers of this turn's batch go (the batch ended). */
  private readonly releaseHeld = (): void => {
    if (this.held.length === 0) return
    const held = this.held
    this.held = []
    for (const release of held) release()
  }

  /**
   * rsaOnEventLoop: one decryption per turn while other requests arrive (a cached request
   * waits at most about one RSA operation), batches of up to BATCH_MS while only decryptions
   * have arrived for QUIET_MS. Each turn costs a poll, a read and a write, and runs its code
   * with caches the RSA operation has just cooled: a bare node:http2 server doing one RSA-2048
   * operation per turn spent ~0.2 ms per request besides it on a 2-core VM, 8 per turn ~0.05.
   * Measured here: +14% decryptions per CPU-second in a same-core A/B (bench/ab.ts
   * runner-uncached, 6 rounds 1.14-1.16), +5% median of 10 serial pairs (0.95-1.15).
   */
  private nextBatchEnd(): number {
    const now = this.clock()
    if (this.streamsStarted === undefined) return now
    const started = this.streamsStarted()
    const { misses, coalesced, overloaded } = this.counters
    const decryptionBound = misses + coalesced + overloaded
    // Streams that asked for no decryption: cached tokens, other credentials, other routes.
    const others = started - this.lastStarted - (decryptionBound - this.lastDecryptionBound)
    this.lastStarted = started
    this.lastDecryptionBound = decryptionBound
    if (others > 0) this.lastOtherAt = now
    return now - this.lastOtherAt >= QUIET_MS ? now + BATCH_MS : now
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
