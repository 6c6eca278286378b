import type { TlsOptions } from 'node:tls'
import type { PeerPolicy } from '../pki/verify-peer.js'
import type { Logger } from '../shared/logger.js'
import type { Transport, TransportOptions } from './contract.js'
import { startGrpcJsTransport } from './grpc-js/serve-grpc-js.js'
import { startHttp2Transport } from './http2/serve-http2.js'
import { type PeerGateStats, peerCheck } from './peer-check.js'

// The one door from app/ to the transports: only the configured one is built and bound.

export type TransportKind = 'http2' | 'grpc-js'

export interface TransportDeps extends Omit<TransportOptions, 'tls' | 'verifyPeer'> {
  /** Channel mTLS: the serving options, and the peers admitted (read per connection). */
  readonly tls?: {
    readonly options: TlsOptions
    readonly policy: () => PeerPolicy
    readonly stats: PeerGateStats
  }
  /** A session without streams stopped answering pings and was closed (http2 counts them). */
  onUnresponsive?(): void
}

/** Starts `kind` on `deps.listen`; with TLS every connection passes the shared peer check. */
export function startTransport(
  kind: TransportKind,
  deps: TransportDeps,
  logger: Logger,
): Promise<Transport> {
  const { tls, onUnresponsive, ...common } = deps
  const options: TransportOptions =
    tls === undefined
      ? common
      : {
          ...common,
          tls: tls.options,
          verifyPeer: peerCheck(tls.policy, logger, tls.stats),
        }
  switch (kind) {
    case 'grpc-js':
      return startGrpcJsTransport(options)
    case 'http2':
      return startHttp2Transport({
        ...options,
        ...(onUnresponsive === undefined ? {} : { guard: { onUnresponsive } }),
      })
  }
}

export type { Transport } from './contract.js'
export { setsStreamResetLimits } from './http2/serve-http2.js'
export type { PeerGateStats } from './peer-check.js'
