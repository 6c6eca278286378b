/**
 * nghttp2 (1.57+, CVE-2023-44487 "rapid reset") keeps a token bucket of incoming RST_STREAM per
 * server session: 1000 tokens, 33 regained per whole second. When it runs dry nghttp2 queues
 * GOAWAY(INTERNAL_ERROR) by itself, and Node 20 neither lets the limits be set nor learns that the
 * GOAWAY went out: once the last stream ends, nghttp2 wants no more reads, Node stops reading the
 * socket, never sees the peer's FIN, and the session, its fd and its socket stay in CLOSE-WAIT for
 * good (a client cancelling 140 streams/s lost its connection every 9.3 s and left one each time).
 */
export const NGHTTP2_RESET_BURST = 1000
export const NGHTTP2_RESET_RATE_PER_S = 33
/**
 * We roll the connection ourselves (graceful GOAWAY NO_ERROR: open streams finish, the peer
 * reconnects, Node keeps reading until the session is gone) with this many of nghttp2's tokens
 * still left by our count. The margin covers resets we cannot see: an RST_STREAM for a stream
 * already closed costs nghttp2 a token but reaches no JavaScript event.
 */
export const DEFAULT_ROLL_AT_TOKENS = 500
/** A session with no stream for this long is pinged... */
export const DEFAULT_IDLE_PING_MS = 10_000
/** ...and destroyed when the ack does not come within this (a session nghttp2 stopped reading). */
export const DEFAULT_PING_TIMEOUT_MS = 10_000

export interface SessionGuardOptions {
  /** Tokens left (by our count of nghttp2's bucket) at which the session is rolled. */
  readonly rollAtTokens?: number
  readonly idlePingMs?: number
  readonly pingTimeoutMs?: number
  /** Milliseconds, monotonic; injected by tests. */
  readonly now?: () => number
  /** A session was closed gracefully because its peer reset too many streams. */
  onRolled?(): void
  /** A session was destroyed because an idle-time ping went unanswered. */
  onUnresponsive?(): void
}

/** What the guard needs from a session: node:http2's ServerHttp2Session fits. */
export interface GuardedSession {
  readonly closed: boolean
  readonly destroyed: boolean
  close(): void
  destroy(): void
  ping(callback: (err: Error | null) => void): boolean
}

/** One session's books: open streams, our copy of nghttp2's reset bucket, the liveness ping. */
class SessionBooks {
  open = 0
  lastActive: number
  tokens = NGHTTP2_RESET_BURST
  /** The whole second nghttp2 last refilled at (it refills per elapsed whole second). */
  stampS: number
  rolled = false
  pingSentAt: number | undefined

  constructor(now: number) {
    this.lastActive = now
    this.stampS = Math.floor(now / 1000)
  }
}

/**
 * Keeps node:http2 server sessions from being dropped or leaked by nghttp2's own GOAWAY: counts
 * the streams each peer resets and rolls the connection before nghttp2's limit, and, as a
 * backstop for any session nghttp2 stops reading on its own, pings sessions that sit without
 * streams and destroys the ones that do not answer. One timer for all sessions.
 */
export class SessionGuard {
  private readonly books = new Map<GuardedSession, SessionBooks>()
  private readonly rollAt: number
  private readonly idlePingMs: number
  private readonly pingTimeoutMs: number
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly opts: SessionGuardOptions = {}) {
    this.rollAt = opts.rollAtTokens ?? DEFAULT_ROLL_AT_TOKENS
    this.idlePingMs = opts.idlePingMs ?? DEFAULT_IDLE_PING_MS
    this.pingTimeoutMs = opts.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS
    this.now = opts.now ?? (() => performance.now())
  }

  add(session: GuardedSession): void {
    this.books.set(session, new SessionBooks(this.now()))
    if (this.timer === undefined) {
      // Checks often enough that a ping goes out within a quarter of the idle time.
      const every = Math.max(10, Math.min(this.idlePingMs, this.pingTimeoutMs) / 4)
      this.timer = setInterval(() => this.check(), every)
      this.timer.unref()
    }
  }

  remove(session: GuardedSession): void {
    this.books.delete(session)
    if (this.books.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  streamOpened(session: GuardedSession): void {
    const b = this.books.get(session)
    if (b === undefined) return
    b.open++
    b.lastActive = this.now()
    // nghttp2 read a HEADERS frame: the session is being read, whatever became of the ping.
    b.pingSentAt = undefined
  }

  /** `rstCode` as node:http2 reports it at 'close': non-zero means a reset ended the stream. */
  streamClosed(session: GuardedSession, rstCode: number): void {
    const b = this.books.get(session)
    if (b === undefined) return
    b.open--
    const now = this.now()
    b.lastActive = now
    if (rstCode === 0 || b.rolled || session.closed || session.destroyed) return
    const s = Math.floor(now / 1000)
    if (s > b.stampS) {
      b.tokens = Math.min(NGHTTP2_RESET_BURST, b.tokens + (s - b.stampS) * NGHTTP2_RESET_RATE_PER_S)
      b.stampS = s
    }
    b.tokens--
    if (b.tokens > this.rollAt) return
    b.rolled = true
    // GOAWAY(NO_ERROR) with the last stream processed; Node destroys the session once its open
    // streams end. nghttp2 counts no more resets after a GOAWAY is submitted.
    session.close()
    this.opts.onRolled?.()
  }

  /** Tokens left in our copy of the session's nghttp2 bucket (tests). */
  tokensLeft(session: GuardedSession): number | undefined {
    return this.books.get(session)?.tokens
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.books.clear()
  }

  /** Pings sessions idle past idlePingMs; destroys those whose ping is older than pingTimeoutMs. */
  check(): void {
    const now = this.now()
    for (const [session, b] of this.books) {
      if (session.destroyed) continue
      if (b.pingSentAt !== undefined) {
        if (now - b.pingSentAt < this.pingTimeoutMs) continue
        this.books.delete(session)
        session.destroy()
        this.opts.onUnresponsive?.()
        continue
      }
      if (b.open > 0 || now - b.lastActive < this.idlePingMs) continue
      // If the ping cannot be sent (too many outstanding, session unusable), the timeout decides.
      b.pingSentAt = now
      try {
        session.ping((err) => {
          if (err !== null) return // destroyed meanwhile
          b.pingSentAt = undefined
          b.lastActive = this.now()
        })
      } catch {}
    }
  }
}
