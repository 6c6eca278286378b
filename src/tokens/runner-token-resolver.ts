import { hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { AMBIGUOUS, type RequestFacts } from '../authz/request-facts.js'
import { Coalescer } from '../shared/coalesce.js'
import { ConcurrencyLimiter } from '../shared/concurrency-limiter.js'
import { EventLoopBatches } from '../shared/event-loop-batches.js'
import type { RunnerTokensConfig } from './config-schema.js'
import {
  type DecryptOutcome,
  decryptRunnerToken,
  type TokenOptions,
  tokenOptions,
} from './decrypt-runner-token.js'
import type { Keyring } from './keyring.js'
import type { RunnerCredential, RunnerCredentialResolver } from './runner-credential.js'
import { SessionCache } from './session-cache.js'

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
 * decrypt behind a bounded queue, one decryption per distinct token (coalesced): on the thread
 * pool, at most one per core this process may use (decryptionSlots), or on the event loop itself
 * for a process with one core, scheduled in turns (shared/event-loop-batches.ts).
 */
export class RunnerTokenResolver implements RunnerCredentialResolver {
  private keyring: Keyring
  private readonly opts: TokenOptions
  private readonly cache: SessionCache<RunnerCredential>
  private readonly inFlight: Coalescer<string, RunnerCredential>
  /** One RSA job per core: more left the event loop too little CPU (docs/benchmarks.md "Design measurements"). */
  private readonly slots: ConcurrencyLimiter
  /** rsaOnEventLoop only: which decryptions share an event-loop turn. */
  private readonly batches: EventLoopBatches | undefined
  /**
   * Called with each decryption's duration, from the miss to the credential: queue wait and
   * the rest of its event-loop batch included (the metrics histogram).
   */
  onDecryption: ((seconds: number) => void) | undefined
  /**
   * Streams started so far in this process (app/stream-slots.ts counts them at admission). With
   * it, the event loop decrypts in batches while nothing else is arriving; without it, one per
   * turn.
   */
  streamsStarted: (() => number) | undefined
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
    clock: () => number = () => performance.now(),
  ) {
    this.keyring = keyring
    this.opts = tokenOptions(config, maxRunning === 1)
    this.cache = new SessionCache(config.cache)
    this.inFlight = new Coalescer(config.max_pending_decryptions)
    this.slots = new ConcurrencyLimiter(maxRunning)
    this.batches =
      this.opts.rsaOnEventLoop === true
        ? new EventLoopBatches(
            clock,
            () => this.streamsStarted?.(),
            // Streams that asked for a decryption; the others are cached tokens, other routes.
            () => this.counters.misses + this.counters.coalesced + this.counters.overloaded,
          )
        : undefined
  }

  get currentKeyring(): Keyring {
    return this.keyring
  }

  /** Swaps in a new keyring; cached results from keys it no longer holds stop counting. */
  setKeyring(next: Keyring): void {
    this.keyring = next
    this.cache.clearFailed() // a token that failed may decrypt with a key that just appeared
  }

  resolve(request: Pick<RequestFacts, 'bearer'>): RunnerCredential | Promise<RunnerCredential> {
    const token = request.bearer
    if (token === undefined) return ABSENT
    if (token === AMBIGUOUS) return AMBIGUOUS_TOKEN
    if (token.length > this.config.max_token_bytes) {
      return toCredential({ ok: false, reason: 'token_invalid' })
    }
    // A digest, never the token, keys the cache; one-shot hash() makes no Hash object.
    const digest = hash('sha256', token, 'base64')
    const hit = this.cache.get(digest, this.now(), this.keyring.byKid)
    if (hit !== undefined) {
      this.counters.hits++
      return hit
    }
    const pending = this.inFlight.pending(digest)
    if (pending !== undefined) {
      this.counters.coalesced++
      return pending
    }
    if (this.inFlight.full) {
      this.counters.overloaded++
      return OVERLOADED
    }
    this.counters.misses++
    const started = performance.now()
    const keyring = this.keyring
    const promise = this.limited(() => this.decrypt(token, keyring, this.opts, this.now)).then(
      (outcome) => {
        this.inFlight.settled(digest)
        const seconds = (performance.now() - started) / 1000
        this.counters.decryptions++
        this.counters.decryptSeconds += seconds
        this.onDecryption?.(seconds)
        const credential = toCredential(outcome)
        this.remember(digest, outcome, credential)
        return credential
      },
    )
    return this.inFlight.started(digest, promise)
  }

  /** Runs `job` in a free slot; on the event loop, in the turn the scheduler gives it. */
  private async limited<T>(job: () => Promise<T>): Promise<T> {
    const slot = this.slots.acquire()
    if (slot !== undefined) await slot
    const batches = this.batches
    // One core: the I/O polled between two turns' worth of decryptions is answered first.
    if (batches?.over === true) {
      batches.endBatch()
      await new Promise<void>((resolve) => setImmediate(resolve))
      batches.startBatch()
    }
    let result: T
    try {
      result = await job()
    } finally {
      if (!this.slots.release()) batches?.drained()
    }
    // A batch answers once its decryptions are done, the answers back to back; only while the
    // batch goes on (the next job runs in this turn): one per turn, nothing waits.
    if (batches !== undefined && this.slots.running > 0 && batches.holding) await batches.hold()
    return result
  }

  private remember(digest: string, outcome: DecryptOutcome, credential: RunnerCredential): void {
    const now = this.now()
    if (outcome.ok) this.cache.setValid(digest, credential, outcome.kid, now, outcome.expiresAt)
    else this.cache.setFailed(digest, credential, now)
  }

  stats(): TokenStats {
    return {
      ...this.counters,
      pending: this.inFlight.size,
      running: this.slots.running,
      cacheEntries: this.cache.size,
      cacheEvictions: this.cache.evictions,
      keysLoaded: this.keyring.keys.length,
      keyringLoadedAt: this.keyring.loadedAt,
    }
  }
}
