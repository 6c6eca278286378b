import * as http2 from 'node:http2'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { HEALTH_CHECK_PATH, HEALTH_WATCH_PATH } from '../../observe/health.js'
import { AuthzError } from '../../shared/errors.js'
import { PROCESS_METHOD_PATH, type Transport, type TransportOptions } from '../contract.js'
import { listenOn } from '../listen.js'
import { admits } from '../peer-check.js'
import { serveHealthCheck, serveHealthWatch } from './health-call.js'
import { serveProcessCall } from './process-call.js'
import { SessionGuard, type SessionGuardOptions } from './session-guard.js'

export interface Http2TransportOptions extends TransportOptions {
  /** Node secure-server options (key, cert, ca, requestCert, SNICallback, secureContext...). */
  readonly tls?: http2.SecureServerOptions
  /** The liveness ping of sessions without streams (defaults apply). */
  readonly guard?: SessionGuardOptions
}

function ignoreStreamError(): void {}

/**
 * nghttp2's rapid-reset limit per connection (default 1,000 RST_STREAM, 33/s regained; past it,
 * its own GOAWAY(INTERNAL_ERROR)). Envoy resets every ext_proc stream once its request is done, so
 * the default drops Envoy's connection at any rate above 33 requests/s (and streams it sent after
 * that GOAWAY are refused: 500). The peer is an authenticated Envoy, whose streams max_streams
 * bounds; this keeps the limit above any rate one connection can carry. Node 22.10+/23+ (PR
 * 54875) pass these to nghttp2; Node 20 ignores them, and its sessions that nghttp2 drops are
 * cleaned up by the SessionGuard's ping.
 */
const STREAM_RESET_LIMIT = { streamResetBurst: 100_000, streamResetRate: 100_000 }

/**
 * Whether this Node passes STREAM_RESET_LIMIT to nghttp2 (22.10 and up). On older lines nghttp2
 * keeps its default, and every connection from Envoy is dropped past 33 requests/s: `serve` warns.
 */
export function setsStreamResetLimits(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 22 || (major === 22 && minor >= 10)
}

/** The session a stream belonged to: node:http2 clears `stream.session` before 'close'. */
const SESSION = Symbol('extproc-authz.session')
type GuardedStream = http2.ServerHttp2Stream & { [SESSION]?: http2.ServerHttp2Session }

export async function startHttp2Transport(opts: Http2TransportOptions): Promise<Transport> {
  const settings: http2.Settings = {
    // Envoy puts every stream of a worker on one connection: allow plenty concurrently.
    maxConcurrentStreams: 10_000,
    // Larger windows than the 64 KiB default: headers-only messages are small, but many
    // streams share the connection window.
    initialWindowSize: 1024 * 1024,
  }
  const limits = { settings, ...STREAM_RESET_LIMIT }
  const server: http2.Http2Server | http2.Http2SecureServer =
    opts.tls === undefined
      ? http2.createServer(limits)
      : http2.createSecureServer({ ...opts.tls, ...limits, allowHTTP1: false })

  const sessions = new Set<http2.ServerHttp2Session>()
  const verified = new WeakSet<http2.ServerHttp2Session>()
  // Every TCP connection, sessions or not: a peer that never finishes the TLS handshake or the
  // HTTP/2 preface has no session to close, and would hold shutdown open forever.
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const guard = new SessionGuard(opts.guard)
  // One listener function for every stream of this transport.
  function onGuardedStreamClose(this: GuardedStream): void {
    const session = this[SESSION]
    if (session !== undefined) guard.streamClosed(session)
  }
  const { verifyPeer } = opts
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session)
    guard.add(session)
    session.on('close', () => {
      sessions.delete(session)
      guard.remove(session)
    })
    // Every stream is on the guard's books until its 'close': only a session without streams
    // is pinged for liveness. (Added after node:http2's own listener, which hands the stream to
    // the server's 'stream' handler first; a stream already destroyed has had its 'close'.)
    session.on('stream', (stream: GuardedStream) => {
      if (stream.destroyed) return
      guard.streamOpened(session)
      stream[SESSION] = session
      stream.on('close', onGuardedStreamClose)
    })
    session.on('error', () => {}) // 'close' follows
    // 'session' is emitted synchronously after the handshake, before the socket is read: a
    // peer that fails verification never gets a stream processed.
    if (opts.tls !== undefined && verifyPeer !== undefined) {
      if (!admits(verifyPeer, session.socket as TLSSocket)) {
        session.destroy()
        return
      }
    }
    verified.add(session)
  })

  const ctx = {
    path: PROCESS_METHOD_PATH,
    snapshots: opts.snapshots,
    observer: opts.observer,
    maxMessageBytes: opts.maxMessageBytes,
    onStreamStart: opts.onStreamStart ?? (() => true),
    onStreamEnd: opts.onStreamEnd ?? (() => {}),
  }
  server.on('stream', (stream, headers) => {
    // First, before any branch: a stream the peer reset (Envoy resets every ext_proc stream
    // with code 2 when its request ends, sometimes before we see it) emits 'error', and an
    // 'error' nobody listens to crashes the process. 'close' follows and cleans up.
    stream.on('error', ignoreStreamError)
    const session = stream.session
    if (stream.destroyed || session === undefined) return
    if (!verified.has(session as http2.ServerHttp2Session)) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      return
    }
    if (headers[':path'] === HEALTH_CHECK_PATH && opts.health !== undefined) {
      serveHealthCheck(stream, opts.health)
      return
    }
    if (headers[':path'] === HEALTH_WATCH_PATH && opts.health !== undefined) {
      serveHealthWatch(stream, opts.health)
      return
    }
    serveProcessCall(stream, headers, ctx)
  })
  server.on('sessionError', () => {})

  const port = await listenOn(server, opts.listen)

  return {
    port,
    setSecureContext(options) {
      if (opts.tls === undefined) {
        throw new AuthzError('ERR_INTERNAL', 'plaintext transport has no TLS')
      }
      ;(server as http2.Http2SecureServer).setSecureContext(options)
    },
    close(graceMs) {
      return new Promise<void>((resolve) => {
        let done = false
        const finish = () => {
          if (done) return
          done = true
          clearTimeout(timer)
          resolve()
        }
        // At the deadline nothing is waited for: sessions and bare sockets are destroyed.
        const timer = setTimeout(() => {
          for (const s of sessions) s.destroy()
          for (const s of sockets) s.destroy()
          server.close(() => finish())
          setImmediate(finish)
        }, graceMs)
        timer.unref()
        guard.close()
        server.close(() => finish())
        for (const s of sessions) s.close()
      })
    },
  }
}
