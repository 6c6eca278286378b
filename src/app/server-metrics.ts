import { HttpRegistry } from '../liveness/http-registry.js'
import type { DecisionLog } from '../observe/decision-log.js'
import { createMetrics, type Metrics } from '../observe/metrics.js'
import type { TlsWatcher } from '../pki/watch-serving-tls.js'
import type { PeerGateStats } from '../transport/transport.js'
import type { CredentialsInForce } from './credentials-in-force.js'
import type { StreamSlots } from './stream-slots.js'

/** The components a server's metrics read, each at scrape time. */
interface ServerMetricSources {
  readonly decisionLog: DecisionLog
  /** Config reloads by result. */
  readonly reloads: { ok: number; failed: number }
  readonly credentials: CredentialsInForce
  readonly slots: StreamSlots
  /** The serving certificate source; undefined when plaintext. */
  readonly tls: TlsWatcher | undefined
  readonly connections: { unresponsive: number }
  readonly peers: PeerGateStats
}

/** The Prometheus registry behind /metrics and the decision observer that feeds it. */
export function serverMetrics(s: ServerMetricSources): Metrics {
  return createMetrics({
    decisionLogSampledOut: () => s.decisionLog.sampledOut(),
    reloads: () => s.reloads,
    keyReloads: () => s.credentials.keyReloads(),
    activeStreams: () => s.slots.active,
    tokens: () => s.credentials.tokenStats(),
    certSecondsUntilExpiry: () => s.tls?.current().secondsUntilExpiry(),
    certReloads: () => s.tls?.reloads(),
    connections: () => s.connections,
    peers: () => s.peers,
    registry: () => {
      const registry = s.credentials.current.registry
      return registry instanceof HttpRegistry ? registry.stats() : undefined
    },
  })
}
