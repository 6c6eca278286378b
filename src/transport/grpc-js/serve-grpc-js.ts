import type { Socket } from 'node:net'
import { createServer, type SecureContextOptions, type TLSSocket } from 'node:tls'
import type * as grpc from '@grpc/grpc-js'
import type { ServingTls } from '../../pki/serving-tls.js'
import { splitListen, type VerifyPeer } from '../http2/serve-http2.js'

export interface GrpcJsTlsListener {
  readonly port: number
  /** Replaces the TLS secure context for new connections (certificate rotation). */
  setSecureContext(options: SecureContextOptions): void
  /** Stops accepting and drops connections not yet admitted (grpc-js ends the ones it holds). */
  close(): void
}

/**
 * Channel mTLS for the grpc-js transport, with the peer checked once per connection on the whole
 * chain it presented, as the http2 transport does. grpc-js's own TLS gives a handler only the
 * leaf (getAuthContext calls getPeerCertificate() without the chain), so an X.509-SVID issued by
 * an intermediate CA could not be verified against its trust domain's bundle. Here node:tls does
 * the handshake (TLS 1.3, client certificate required, ALPN h2), verifyPeer sees the chain, and
 * only admitted connections are handed to grpc-js (createConnectionInjector), which speaks HTTP/2
 * over the TLS socket. A refused peer's connection is closed before any stream is read.
 */
export async function listenGrpcJsTls(
  server: grpc.Server,
  insecure: grpc.ServerCredentials,
  listen: string,
  first: ServingTls,
  verifyPeer: VerifyPeer,
): Promise<GrpcJsTlsListener> {
  const injector = server.createConnectionInjector(insecure)
  const tlsServer = createServer({ ...first.secureContextOptions, ALPNProtocols: ['h2'] })
  // TCP connections not handed to grpc-js yet (handshaking, or silent): closing drops them.
  const pending = new Set<Socket>()
  tlsServer.on('connection', (raw: Socket) => {
    pending.add(raw)
    raw.once('close', () => pending.delete(raw))
  })
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => {}) // the HTTP/2 session (or the destroy below) closes it
    let ok = false
    try {
      // Like node:http2 with allowHTTP1: false, a client that did not negotiate h2 is refused.
      ok = socket.alpnProtocol === 'h2' && verifyPeer(socket.getPeerCertificate(true), socket)
    } catch {
      ok = false
    }
    if (!ok) {
      socket.destroy()
      return
    }
    const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent
    if (raw !== undefined && raw !== null) pending.delete(raw)
    pending.delete(socket)
    injector.injectConnection(socket)
  })
  tlsServer.on('tlsClientError', () => {}) // a failed handshake closes its socket
  const { host, port } = splitListen(listen)
  await new Promise<void>((resolve, reject) => {
    tlsServer.once('error', reject)
    tlsServer.listen(port, host, () => {
      tlsServer.off('error', reject)
      resolve()
    })
  })
  const address = tlsServer.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    // setSecureContext() resets omitted options: the ServingTls options spell every one out.
    setSecureContext: (options) => tlsServer.setSecureContext(options),
    // The injected sessions belong to grpc-js: its tryShutdown/forceShutdown ends them.
    close: () => {
      tlsServer.close()
      for (const raw of pending) raw.destroy()
    },
  }
}
