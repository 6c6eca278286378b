// Admission for grpc-js: before a Process handler sees a single message, the peer leaf from
// call.getAuthContext() (grpc-js >= 1.14) must pass verifyPeer; otherwise the call ends
// UNAUTHENTICATED, the refusal is counted and logged with the presented identity.
import * as grpc from '@grpc/grpc-js'
import type { Logger } from '../observe/logger.js'
import { type PeerPolicy, verifyPeer } from '../pki/verify-peer.js'

/** Cumulative counters (wired to prom-client elsewhere). */
export interface PeerGateStats {
  admitted: number
  refused: number
}

export function gateImplementation(
  impl: grpc.UntypedServiceImplementation,
  policy: () => PeerPolicy,
  logger: Logger,
  stats: PeerGateStats,
): grpc.UntypedServiceImplementation {
  const gated: grpc.UntypedServiceImplementation = {}
  for (const [name, handler] of Object.entries(impl)) {
    gated[name] = function (this: unknown, call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw
      const verdict = verifyPeer(raw === undefined ? [] : [new Uint8Array(raw)], policy())
      if (!verdict.ok) {
        stats.refused++
        logger.warn(
          { presented: verdict.presented, reason: verdict.reason, peer: call.getPeer() },
          'refused peer',
        )
        call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'peer not admitted' })
        return
      }
      stats.admitted++
      ;(handler as (c: typeof call) => void).call(this, call)
    } as grpc.UntypedHandleCall
  }
  return gated
}
