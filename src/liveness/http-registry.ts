import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type { SessionRegistryConfig } from '../config/session-registry-schema.js'
import type { Logger } from '../observe/logger.js'
import { Lru } from '../tokens/lru.js'
import { type FileWatch, watchFiles } from '../tokens/watch-files.js'
import type { LivenessCheck, LivenessVerdict } from './with-liveness.js'

type HttpSource = Extract<SessionRegistryConfig['source'], { kind: 'http' }>
type Answer = 'live' | 'gone' | 'error'

interface Entry {
  live: boolean
  checkedAt: number
  usedAt: number
}

export interface RegistryStats {
  lookups: Record<Answer, number>
  refreshes: number
  coalesced: number
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
 */
export class HttpRegistry implements LivenessCheck {
  private readonly cache: Lru<string, Entry>
  private readonly inFlight = new Map<string, Promise<Answer>>()
  private token: string | undefined
  private readonly tokenWatch: FileWatch | undefined
  private readonly sweeper: NodeJS.Timeout
  private readonly agent: http.Agent
  private readonly counters = { live: 0, gone: 0, error: 0, refreshes: 0, coalesced: 0 }

  constructor(
    private readonly source: HttpSource,
    private readonly cfg: Omit<SessionRegistryConfig, 'source'>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
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

  /** Re-checks live entries due for it and purges idle ones. Runs on a timer. */
  sweep(): void {
    const now = this.now()
    for (const [id, e] of this.entries()) {
      if (now - e.usedAt > this.cfg.idle_purge) this.cache.delete(id)
      else if (e.live && now - e.checkedAt >= this.cfg.recheck_interval) {
        this.counters.refreshes++
        void this.lookup(id)
      }
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
    const p = this.request(sessionId, true)
      .then((a) => {
        this.counters[a]++
        const now = this.now()
        if (a === 'live' || a === 'gone') {
          const prev = this.cache.get(sessionId)
          this.cache.set(sessionId, {
            live: a === 'live',
            checkedAt: now,
            usedAt: prev?.usedAt ?? now,
          })
        }
        return a
      })
      .finally(() => this.inFlight.delete(sessionId))
    this.inFlight.set(sessionId, p)
    return p
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

  stats(): RegistryStats {
    const now = this.now()
    let oldest = 0
    for (const [, e] of this.entries()) if (e.live) oldest = Math.max(oldest, now - e.checkedAt)
    return {
      lookups: { live: this.counters.live, gone: this.counters.gone, error: this.counters.error },
      refreshes: this.counters.refreshes,
      coalesced: this.counters.coalesced,
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
