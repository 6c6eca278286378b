import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type { Logger } from '../shared/logger.js'
import { Lru } from '../shared/lru.js'
import { type FileWatch, watchFiles } from '../shared/watch-files.js'
import type { SessionRegistryConfig } from './config-schema.js'
import type { LivenessCheck, LivenessVerdict } from './with-liveness.js'

type HttpSource = Extract<SessionRegistryConfig['source'], { kind: 'http' }>
type Answer = 'live' | 'gone' | 'error'

/** Lookups in flight at most: a registry answers in milliseconds, so 32 carry thousands/s. */
const MAX_CONCURRENT_LOOKUPS = 32
/** Request-path lookups waiting for a slot at most; beyond it they count as an outage (503). */
const MAX_QUEUED_LOOKUPS = 1024
/** While the registry fails, one probe after this long, doubling up to the maximum. */
const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 30_000
/** Background re-checks are due between 75% and 100% of recheck_interval, so a burst of new
 * sessions does not come due in one burst again. */
const RECHECK_JITTER = 0.25

interface Entry {
  live: boolean
  checkedAt: number
  usedAt: number
  /** When a background re-check is due (jittered). */
  dueAt: number
}

/** The registry's health as the client sees it: a failed lookup opens an outage. */
interface Outage {
  since: number
  failures: number
  backoffMs: number
  nextProbeAt: number
}

export interface RegistryStats {
  lookups: Record<Answer, number>
  refreshes: number
  coalesced: number
  /** Lookups answered as an outage without asking (backoff, or the queue full). */
  shortCircuited: number
  /** Whether the last lookup failed and probes are backing off. */
  down: boolean
  entries: number
  /** Age in seconds of the oldest positive answer still cached. */
  oldestPositiveAgeSeconds: number
}

/**
 * A session registry behind HTTP (`GET {base}/{session}`: 200 live, 404 gone, anything else an
 * outage), with a cache that answers synchronously, re-checks live sessions in the background
 * before they go stale, purges idle ones, remembers gone ones briefly and coalesces concurrent
 * lookups. During an outage cached live answers are honoured up to `max_staleness`; nothing else
 * is ever allowed.
 *
 * It cannot stampede the registry: at most MAX_CONCURRENT_LOOKUPS requests are in flight, only
 * sessions used since their last check are re-checked in the background (an idle server asks
 * nothing), re-checks are jittered over the interval, and once a lookup fails the client backs
 * off: until the next probe (250 ms doubling to 30 s) requests are answered from the cache or as
 * unavailable at once, never held for the lookup timeout. One log line when the registry goes
 * down, one when it is back.
 */
export class HttpRegistry implements LivenessCheck {
  private readonly cache: Lru<string, Entry>
  private readonly inFlight = new Map<string, Promise<Answer>>()
  private token: string | undefined
  private readonly tokenWatch: FileWatch | undefined
  private readonly sweeper: NodeJS.Timeout
  private readonly agent: http.Agent
  private readonly counters = {
    live: 0,
    gone: 0,
    error: 0,
    refreshes: 0,
    coalesced: 0,
    shortCircuited: 0,
  }
  private active = 0
  private readonly waiting: Array<() => void> = []
  private outage: Outage | undefined

  constructor(
    private readonly source: HttpSource,
    private readonly cfg: Omit<SessionRegistryConfig, 'source'>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.cache = new Lru(cfg.max_entries)
    const url = new URL(source.base_url)
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ...(source.tls
              ? {
                  cert: readFileSync(source.tls.cert_file),
                  key: readFileSync(source.tls.key_file),
                  ca: readFileSync(source.tls.ca_file),
                }
              : {}),
          })
        : new http.Agent({ keepAlive: true })
    if (source.token_file !== undefined) {
      this.token = readFileSync(source.token_file, 'utf8').trim()
      // Projected service-account tokens rotate on disk: re-read on change (never logged).
      this.tokenWatch = watchFiles([source.token_file], () => void this.reloadToken())
    }
    const every = Math.max(250, Math.min(cfg.recheck_interval, cfg.idle_purge) / 4)
    this.sweeper = setInterval(() => this.sweep(), every)
    this.sweeper.unref()
  }

  check(sessionId: string): LivenessVerdict | Promise<LivenessVerdict> {
    const now = this.now()
    const e = this.cache.get(sessionId)
    if (e !== undefined) {
      e.usedAt = now
      const age = now - e.checkedAt
      if (!e.live && age < this.cfg.negative_ttl) return 'gone'
      if (e.live && age < this.cfg.recheck_interval) return 'live'
      if (e.live && age <= this.cfg.max_staleness) {
        void this.lookup(sessionId) // refresh in the background; answer from the cache now
        return 'live'
      }
    }
    return this.lookup(sessionId).then((a): LivenessVerdict => {
      if (a === 'error') {
        // Outage: a cached live answer still counts within the staleness bound.
        const cached = this.cache.get(sessionId)
        if (cached?.live && this.now() - cached.checkedAt <= this.cfg.max_staleness) return 'live'
        return 'unavailable'
      }
      return a
    })
  }

  /**
   * Re-checks live entries that are due and in use (used since their last check), as far as
   * free lookup slots allow (the rest wait for a later sweep), and purges idle ones. On a timer.
   */
  sweep(): void {
    const now = this.now()
    for (const [id, e] of this.entries()) {
      if (now - e.usedAt > this.cfg.idle_purge) this.cache.delete(id)
      else if (
        e.live &&
        now >= e.dueAt &&
        e.usedAt > e.checkedAt &&
        this.active < MAX_CONCURRENT_LOOKUPS &&
        !this.backingOff(now) &&
        !this.inFlight.has(id)
      ) {
        this.counters.refreshes++
        void this.lookup(id)
      }
    }
  }

  private backingOff(now: number): boolean {
    return this.outage !== undefined && now < this.outage.nextProbeAt
  }

  /** Waits for a lookup slot; false when the queue is full. */
  private acquire(): Promise<boolean> | boolean {
    if (this.active < MAX_CONCURRENT_LOOKUPS) {
      this.active++
      return true
    }
    if (this.waiting.length >= MAX_QUEUED_LOOKUPS) return false
    return new Promise((resolve) => this.waiting.push(() => resolve(true)))
  }

  private release(): void {
    const next = this.waiting.shift()
    if (next !== undefined)
      next() // the slot passes on: active stays the same
    else this.active--
  }

  private recordAnswer(a: Answer): void {
    const now = this.now()
    if (a === 'error') {
      const o = this.outage
      if (o === undefined) {
        this.outage = {
          since: now,
          failures: 1,
          backoffMs: BACKOFF_MIN_MS,
          nextProbeAt: now + BACKOFF_MIN_MS,
        }
        this.logger.warn(
          { next_probe_ms: BACKOFF_MIN_MS },
          'session registry unreachable: answering from cached live sessions within max_staleness, others 503',
        )
      } else {
        o.failures++
        o.backoffMs = Math.min(o.backoffMs * 2, BACKOFF_MAX_MS)
        // Jittered so that many processors do not probe a recovering registry in step.
        o.nextProbeAt = now + o.backoffMs * (0.5 + this.random() / 2)
      }
      return
    }
    if (this.outage !== undefined) {
      this.logger.info(
        { down_ms: now - this.outage.since, failed_lookups: this.outage.failures },
        'session registry reachable again',
      )
      this.outage = undefined
    }
  }

  private entries(): Array<[string, Entry]> {
    return [...this.cache.entries()]
  }

  private lookup(sessionId: string): Promise<Answer> {
    const pending = this.inFlight.get(sessionId)
    if (pending !== undefined) {
      this.counters.coalesced++
      return pending
    }
    const now = this.now()
    if (this.backingOff(now)) {
      // A known outage: answer at once instead of holding the request for the timeout.
      this.counters.shortCircuited++
      return Promise.resolve('error')
    }
    // The first lookup after the backoff is the probe: the others short-circuit meanwhile.
    if (this.outage !== undefined) this.outage.nextProbeAt = now + this.outage.backoffMs
    const p = this.limited(sessionId)
      .then((a) => {
        this.counters[a]++
        const now = this.now()
        if (a === 'live' || a === 'gone') {
          const prev = this.cache.get(sessionId)
          const due = this.cfg.recheck_interval * (1 - RECHECK_JITTER * this.random())
          this.cache.set(sessionId, {
            live: a === 'live',
            checkedAt: now,
            usedAt: prev?.usedAt ?? now,
            dueAt: now + due,
          })
        }
        return a
      })
      .finally(() => this.inFlight.delete(sessionId))
    this.inFlight.set(sessionId, p)
    return p
  }

  /** One lookup within the concurrency bound; records the registry's health. */
  private async limited(sessionId: string): Promise<Answer> {
    const slot = this.acquire()
    if (!(slot === true || (await slot))) {
      this.counters.shortCircuited++
      return 'error'
    }
    try {
      const a = await this.request(sessionId, true)
      this.recordAnswer(a)
      return a
    } finally {
      this.release()
    }
  }

  private request(sessionId: string, mayRetry: boolean): Promise<Answer> {
    const url = `${this.source.base_url.replace(/\/+$/, '')}/${encodeURIComponent(sessionId)}`
    const mod = url.startsWith('https:') ? https : http
    return new Promise<number>((resolve) => {
      const req = mod.request(
        url,
        {
          method: 'GET',
          agent: this.agent,
          timeout: this.source.timeout,
          headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        },
        (res) => {
          res.resume() // the body is not read; only the status matters
          resolve(res.statusCode ?? 0)
        },
      )
      req.on('timeout', () => req.destroy())
      req.on('error', () => resolve(0))
      req.end()
    }).then(async (status) => {
      if (status === 200) return 'live'
      if (status === 404) return 'gone'
      if (status === 401 && mayRetry && this.source.token_file !== undefined) {
        // The token may have rotated before the watcher saw it: re-read once and retry once.
        await this.reloadToken()
        return this.request(sessionId, false)
      }
      if (status !== 0)
        this.logger.warn({ status }, 'session registry answered with an unexpected status')
      return 'error'
    })
  }

  private async reloadToken(): Promise<void> {
    if (this.source.token_file === undefined) return
    try {
      this.token = (await readFile(this.source.token_file, 'utf8')).trim()
    } catch (err) {
      this.logger.warn(
        { err: (err as NodeJS.ErrnoException).code },
        'session registry token file unreadable; keeping the last token',
      )
    }
  }

  /** Resolves once the lookups in flight now (background re-checks included) have ended. */
  async idle(): Promise<void> {
    await Promise.all([...this.inFlight.values()])
  }

  stats(): RegistryStats {
    const now = this.now()
    let oldest = 0
    for (const [, e] of this.entries()) if (e.live) oldest = Math.max(oldest, now - e.checkedAt)
    return {
      lookups: { live: this.counters.live, gone: this.counters.gone, error: this.counters.error },
      refreshes: this.counters.refreshes,
      coalesced: this.counters.coalesced,
      shortCircuited: this.counters.shortCircuited,
      down: this.outage !== undefined,
      entries: this.cache.size,
      oldestPositiveAgeSeconds: oldest / 1000,
    }
  }

  close(): void {
    clearInterval(this.sweeper)
    this.tokenWatch?.close()
    this.agent.destroy()
  }
}
