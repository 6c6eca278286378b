// Admission for grpc-js: before a handler (Process, Health) sees a single message, the peer leaf
// from call.getAuthContext() (grpc-js >= 1.14) must pass verifyPeer; otherwise the call ends
// UNAUTHENTICATED, the refusal is counted and logged with the presented identity. (The http2
// transport checks once per connection, before any stream.)
import { X509Certificate } from 'node:crypto'
import * as grpc from '@grpc/grpc-js'
import type { Logger } from '../observe/logger.js'
import { type PeerPolicy, type PeerVerdict, verifyPeer } from '../pki/verify-peer.js'

/** Cumulative counters (wired to prom-client elsewhere). */
export interface PeerGateStats {
  admitted: number
  refused: number
}

// verifyPeer costs ~2 ms (parse + signature check) and Envoy opens one stream per HTTP request over
// a long-lived connection: cache verdicts per leaf and policy for a short time, bounded in size.
const CACHE_MAX = 1024
const CACHE_MS = 30_000

interface Cached {
  readonly verdict: PeerVerdict
  readonly policy: PeerPolicy
  readonly until: number
}

export function gateImplementation(
  impl: grpc.UntypedServiceImplementation,
  policy: () => PeerPolicy,
  logger: Logger,
  stats: PeerGateStats,
): grpc.UntypedServiceImplementation {
  const gated: grpc.UntypedServiceImplementation = {}
  const cache = new Map<string, Cached>()
  const check = (raw: Buffer | undefined): PeerVerdict => {
    const current = policy()
    if (raw === undefined) return verifyPeer([], current)
    const key = raw.toString('base64')
    const now = Date.now()
    const hit = cache.get(key)
    if (hit !== undefined && hit.policy === current && hit.until > now) return hit.verdict
    const verdict = verifyPeer([new Uint8Array(raw)], current)
    if (cache.size >= CACHE_MAX) cache.clear()
    // An admitted leaf is never cached past its own expiry.
    const until = verdict.ok
      ? Math.min(now + CACHE_MS, Date.parse(new X509Certificate(raw).validTo))
      : now + CACHE_MS
    cache.set(key, { verdict, policy: current, until })
    return verdict
  }
  for (const [name, handler] of Object.entries(impl)) {
    // Unary handlers (Health/Check) answer through `callback`; streaming ones (Process, Watch)
    // through the call's 'error' event.
    gated[name] = function (
      this: unknown,
      call: grpc.ServerUnaryCall<Buffer, Buffer> & { emit(event: 'error', err: object): boolean },
      callback?: grpc.sendUnaryData<Buffer>,
    ) {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw
      const verdict = check(raw)
      if (!verdict.ok) {
        stats.refused++
        logger.warn(
          { presented: verdict.presented, reason: verdict.reason, peer: call.getPeer() },
          'refused peer',
        )
        const refusal = { code: grpc.status.UNAUTHENTICATED, details: 'peer not admitted' }
        if (callback !== undefined) callback(refusal)
        else call.emit('error', refusal)
        return
      }
      stats.admitted++
      ;(handler as (c: typeof call, cb?: typeof callback) => void).call(this, call, callback)
    } as grpc.UntypedHandleCall
  }
  return gated
}
