import { IDLE_PING_MS, PING_TIMEOUT_MS } from '../contract.js'

/**
 * nghttp2 (1.57+, CVE-2023-44487 "rapid reset") keeps a token bucket of incoming RST_STREAM per
 * server session: 1000 tokens, 33 regained per whole second. When it runs dry nghttp2 queues
 * GOAWAY(INTERNAL_ERROR) by itself, and Node 20 neither lets the limits be set nor learns that the
 * GOAWAY went out: once the last stream ends, nghttp2 wants no more reads, Node stops reading the
 * socket, never sees the peer's FIN, and the session, its fd and its socket stay in CLOSE-WAIT for
 * good (a client cancelling 140 streams/s lost its connection every 9.3 s and left one each time;
 * Envoy resets every ext_proc stream it does not need any more, so it meets the limit at any
 * rate above 33 requests/s on one connection).
 *
 * Rolling the connection ourselves before the limit does not help Envoy: measured through the
 * pinned Envoy, a graceful GOAWAY(NO_ERROR) at 500 tokens left turned 51 of 3,000 requests into
 * 500 (refused streams), and a two-step one (notice with the largest stream id, final GOAWAY 1 s
 * later) 20 into 504 (streams sent before Envoy saw the notice were never read: Node stops
 * reading a session that sent GOAWAY as soon as it has no open stream), where nghttp2's own
 * GOAWAY failed none. So the GOAWAY stays nghttp2's, and what it leaves behind is cleaned up:
 * a session without streams is pinged, and destroyed when the ack does not come.
 */
export interface SessionGuardOptions {
  readonly idlePingMs?: number
  readonly pingTimeoutMs?: number
  /** Milliseconds, monotonic; injected by tests. */
  readonly now?: () => number
  /** A session was destroyed because an idle-time ping went unanswered. */
  onUnresponsive?(): void
}

/** What the guard needs from a session: node:http2's ServerHttp2Session fits. */
export interface GuardedSession {
  readonly destroyed: boolean
  destroy(): void
  ping(callback: (err: Error | null) => void): boolean
}

/** One session's books: open streams, last activity, the outstanding liveness ping. */
class SessionBooks {
  open = 0
  pingSentAt: number | undefined
  constructor(public lastActive: number) {}
}

/**
 * Destroys node:http2 server sessions that nghttp2 stopped reading (see above) or whose peer is
 * gone without a FIN: a session that sits without streams for idlePingMs is pinged, and one whose
 * ping is not answered within pingTimeoutMs is destroyed. One timer for all sessions.
 */
export class SessionGuard {
  private readonly books = new Map<GuardedSession, SessionBooks>()
  private readonly idlePingMs: number
  private readonly pingTimeoutMs: number
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly opts: SessionGuardOptions = {}) {
    this.idlePingMs = opts.idlePingMs ?? IDLE_PING_MS
    this.pingTimeoutMs = opts.pingTimeoutMs ?? PING_TIMEOUT_MS
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

  streamClosed(session: GuardedSession): void {
    const b = this.books.get(session)
    if (b === undefined) return
    b.open--
    b.lastActive = this.now()
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
