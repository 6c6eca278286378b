import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls'
import { type PeerPolicy, verifyPeer } from '../../pki/verify-peer.js'
import type { LogLimiter } from '../../shared/log-limiter.js'
import type { Logger } from '../../shared/logger.js'
import { type PeerGateStats, refusalLog } from '../refusal-log.js'
import type { VerifyPeer } from './serve-http2.js'

export type { PeerGateStats }

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
 * Both transports check the peer once per connection, right after the handshake and before any
 * stream is read, on the whole chain it presented (leaf first, intermediates after): refusals
 * are counted and logged with the presented identity (rate limited: see refusalLog).
 */
export function http2PeerCheck(
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
