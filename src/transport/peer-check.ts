import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls'
import { type PeerPolicy, verifyPeer } from '../pki/verify-peer.js'
import type { LogLimiter } from '../shared/log-limiter.js'
import type { Logger } from '../shared/logger.js'
import { type PeerGateStats, refusalLog } from './refusal-log.js'

export type { PeerGateStats }

/**
 * Decides whether a TLS peer may open streams: called once per connection, after the handshake
 * and before any stream is read. Return false (or throw) to drop the connection. This is where
 * channel mTLS (per-trust-domain SPIFFE verification) plugs in.
 */
export type VerifyPeer = (chain: PeerCertificate | undefined, socket: TLSSocket) => boolean

/** The presented chain, leaf first, from Node's linked issuerCertificate list. */
function derChain(cert: PeerCertificate | undefined): Uint8Array[] {
  const out: Uint8Array[] = []
  let c = cert as DetailedPeerCertificate | undefined
  while (c?.raw !== undefined && out.length < 10) {
    out.push(c.raw)
    if (c.issuerCertificate === undefined || c.issuerCertificate === c) break
    c = c.issuerCertificate
  }
  return out
}

/**
 * The peer admission both transports use: once per connection, right after the handshake and
 * before any stream is read, on the whole chain the peer presented (leaf first, intermediates
 * after). Refusals are counted and logged with the presented identity (rate limited: refusalLog).
 */
export function peerCheck(
  policy: () => PeerPolicy,
  logger: Logger,
  stats: PeerGateStats,
  limiter?: LogLimiter,
): VerifyPeer {
  const refused = refusalLog(logger, stats, limiter)
  return (cert) => {
    const verdict = verifyPeer(derChain(cert), policy())
    if (verdict.ok) {
      stats.admitted++
      return true
    }
    refused({ presented: verdict.presented, reason: verdict.reason })
    return false
  }
}

/** Whether a connection's peer is admitted: fails closed (a throw refuses it). */
export function admits(verify: VerifyPeer, socket: TLSSocket): boolean {
  try {
    return verify(socket.getPeerCertificate(true), socket) === true
  } catch {
    return false
  }
}
