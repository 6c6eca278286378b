import { createServer as createTcpServer, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { AuthzError } from '../../shared/errors.js'
import {
  IDLE_PING_MS,
  PING_TIMEOUT_MS,
  type Transport,
  type TransportOptions,
} from '../contract.js'
import { listenOn } from '../listen.js'
import { admits } from '../peer-check.js'
import { healthHandler, healthService } from './health-call.js'
import { externalProcessorService, processHandler } from './process-call.js'

/**
 * Process (and grpc.health.v1) on @grpc/grpc-js. We own the listening socket, as the http2
 * transport does (transport/listen.ts), and hand connections to grpc-js through its connection
 * injector: grpc-js's own TLS gives a handler only the leaf (getAuthContext calls
 * getPeerCertificate() without the chain), so an X.509-SVID issued by an intermediate CA could not
 * be verified against its trust domain's bundle. With TLS, node:tls does the handshake (TLS 1.3,
 * client certificate required, ALPN h2), the shared peer check sees the chain, and only admitted
 * connections reach grpc-js; a refused peer's connection is closed before any stream is read.
 */
export async function startGrpcJsTransport(opts: TransportOptions): Promise<Transport> {
  const server = new grpc.Server({
    // Envoy multiplexes every stream of a worker over one connection; keep it open.
    'grpc.keepalive_permit_without_calls': 1,
    // grpc-js pings every connection at this interval, busy or not: a session nghttp2 stopped
    // reading is found by an unanswered ping and destroyed (transport/contract.ts).
    'grpc.keepalive_time_ms': IDLE_PING_MS,
    'grpc.keepalive_timeout_ms': PING_TIMEOUT_MS,
    'grpc.max_receive_message_length': opts.maxMessageBytes,
  })
  if (opts.health !== undefined) server.addService(healthService, healthHandler(opts.health))
  server.addService(
    externalProcessorService,
    processHandler(opts.snapshots, opts.observer, {
      ...(opts.onStreamStart === undefined ? {} : { onStreamStart: opts.onStreamStart }),
      ...(opts.onStreamEnd === undefined ? {} : { onStreamEnd: opts.onStreamEnd }),
    }),
  )
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure())
  const { tls, verifyPeer } = opts
  // TCP connections not handed to grpc-js yet (handshaking, or silent): closing drops them.
  const pending = new Set<Socket>()
  const listener =
    tls === undefined
      ? createTcpServer((socket) => injector.injectConnection(socket))
      : createTlsServer({ ...tls, ALPNProtocols: ['h2'] })
  if (tls !== undefined) {
    listener.on('connection', (raw: Socket) => {
      pending.add(raw)
      raw.once('close', () => pending.delete(raw))
    })
    listener.on('secureConnection', (socket: TLSSocket) => {
      socket.on('error', () => {}) // the HTTP/2 session (or the destroy below) closes it
      // Like node:http2 with allowHTTP1: false, a client that did not negotiate h2 is refused.
      const ok =
        socket.alpnProtocol === 'h2' && (verifyPeer === undefined || admits(verifyPeer, socket))
      if (!ok) {
        socket.destroy()
        return
      }
      const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent
      if (raw !== undefined && raw !== null) pending.delete(raw)
      pending.delete(socket)
      injector.injectConnection(socket)
    })
    listener.on('tlsClientError', () => {}) // a failed handshake closes its socket
  }
  let port: number
  try {
    port = await listenOn(listener, opts.listen)
  } catch (err) {
    server.forceShutdown()
    throw err
  }
  const stopListening = () => {
    listener.close()
    for (const raw of pending) raw.destroy()
  }
  return {
    port,
    setSecureContext(options) {
      if (tls === undefined) {
        throw new AuthzError('ERR_INTERNAL', 'plaintext transport has no TLS')
      }
      // setSecureContext() resets omitted options: the ServingTls options spell every one out.
      ;(listener as ReturnType<typeof createTlsServer>).setSecureContext(options)
    },
    // The injected sessions belong to grpc-js: its tryShutdown/forceShutdown ends them.
    close(graceMs) {
      stopListening()
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, graceMs)
        timer.unref()
        server.tryShutdown(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
  }
}
