import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { StreamObserver } from '../extproc/process-stream.js'
import type { RegistryStats } from '../liveness/http-registry.js'
import type { TokenStats } from '../tokens/runner-token-resolver.js'
import { DecisionMetrics } from './decision-metrics.js'

/** Cumulative numbers components keep themselves; read at scrape time (pull, no hot-path cost). */
interface MetricsSources {
  reloads?(): { ok: number; failed: number }
  keyReloads?(): { ok: number; failed: number }
  certReloads?(): { ok: number; failed: number } | undefined
  /** node:http2 transport: connections without streams dropped for an unanswered ping. */
  connections?(): { unresponsive: number }
  activeStreams?(): number
  tokens?(): TokenStats | undefined
  certSecondsUntilExpiry?(): number | undefined
  peers?(): { admitted: number; refused: number; notLogged: number }
  registry?(): RegistryStats | undefined
  decisionLogSampledOut?(): number
}

const P = 'extproc_authz_'

/** A counter whose value is a component's own cumulative count, read at scrape time. */
function pulledCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | undefined,
) {
  let last = 0
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read()
      if (v !== undefined && v > last) {
        this.inc(v - last)
        last = v
      }
    },
  })
}

/** A counter by result="ok"|"failed" read from a component's own counts. */
function resultCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => { ok: number; failed: number } | undefined,
) {
  const seen = { ok: 0, failed: 0 }
  return new Counter({
    name,
    help,
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const now = read()
      // Both series exist from the start, so a first failure is a change and not a new series.
      for (const result of ['ok', 'failed'] as const) {
        const v = now?.[result] ?? 0
        this.labels(result).inc(v - seen[result])
        seen[result] = v
      }
    },
  })
}

function pulledGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | undefined,
) {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read()
      if (v !== undefined) this.set(v)
    },
  })
}

export interface Metrics {
  readonly registry: Registry
  /** Records every decision: counts by decision/reason/rule and the duration histogram. */
  readonly observer: StreamObserver
  /** Records one runner-token decryption (seconds). */
  observeDecryption(seconds: number): void
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry()
  // Process and Node runtime metrics (process_resident_memory_bytes, nodejs_heap_size_used_bytes,
  // event loop lag, GC): what `make soak` samples, and what a leak shows up in first.
  collectDefaultMetrics({ register: registry })
  const decisions = new DecisionMetrics()
  decisions.register(registry, P)
  resultCounter(
    registry,
    `${P}config_reloads_total`,
    'Config reloads by result: ok (applied) or failed (refused, last good kept).',
    () => sources.reloads?.(),
  )
  resultCounter(
    registry,
    `${P}token_key_reloads_total`,
    'Runner-token key file reloads by result: ok (keyring replaced) or failed (refused, last good kept).',
    () => sources.keyReloads?.(),
  )
  resultCounter(
    registry,
    `${P}serving_certificate_reloads_total`,
    'Serving certificate rotations by result: ok (served to new connections) or failed ' +
      '(refused, working pair kept; counted once per change, not per retry).',
    () => sources.certReloads?.(),
  )
  pulledCounter(
    registry,
    `${P}connections_unresponsive_total`,
    'Connections without streams destroyed because a ping went unanswered (http2 transport): ' +
      'mostly ones nghttp2 stopped reading after its own GOAWAY (rapid-reset limit).',
    () => sources.connections?.().unresponsive,
  )
  pulledCounter(
    registry,
    `${P}decision_log_sampled_out_total`,
    'Decision log lines left out by logging.decisions sampling.',
    () => sources.decisionLogSampledOut?.(),
  )
  pulledGauge(
    registry,
    `${P}active_streams`,
    'Process streams admitted and not yet answered (limits.max_streams bounds them).',
    () => sources.activeStreams?.(),
  )
  const t = () => sources.tokens?.()
  pulledCounter(
    registry,
    `${P}token_cache_hits_total`,
    'Runner tokens answered from the cache.',
    () => t()?.hits,
  )
  pulledCounter(
    registry,
    `${P}token_cache_misses_total`,
    'Runner tokens that needed a decryption.',
    () => t()?.misses,
  )
  pulledCounter(
    registry,
    `${P}token_cache_evictions_total`,
    'Cache entries evicted by the size bound.',
    () => t()?.cacheEvictions,
  )
  pulledCounter(
    registry,
    `${P}token_overloaded_total`,
    'Requests refused because the decryption queue was full.',
    () => t()?.overloaded,
  )
  pulledCounter(
    registry,
    `${P}token_decryptions_total`,
    'RSA/JWE decryptions performed.',
    () => t()?.decryptions,
  )
  pulledCounter(
    registry,
    `${P}token_decryption_seconds_total`,
    'Time spent in decryptions.',
    () => t()?.decryptSeconds,
  )
  const decryptionDuration = new Histogram({
    name: `${P}token_decryption_duration_seconds`,
    help: 'Runner-token decryptions, from the cache miss to the result (queue wait included).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  pulledGauge(
    registry,
    `${P}token_decryption_queue_depth`,
    'Decryptions in flight.',
    () => t()?.pending,
  )
  pulledGauge(
    registry,
    `${P}token_keys_loaded`,
    'Runner-token keys in the keyring.',
    () => t()?.keysLoaded,
  )
  pulledGauge(
    registry,
    `${P}token_keyring_age_seconds`,
    'Seconds since the keyring was loaded.',
    () => {
      const at = t()?.keyringLoadedAt
      return at === undefined ? undefined : (Date.now() - at) / 1000
    },
  )
  pulledGauge(
    registry,
    `${P}serving_certificate_expiry_seconds`,
    'Seconds until the serving certificate expires.',
    () => sources.certSecondsUntilExpiry?.(),
  )
  pulledCounter(
    registry,
    `${P}channel_peers_refused_total`,
    'Channel peers refused (mTLS SVID checks).',
    () => sources.peers?.().refused,
  )
  pulledCounter(
    registry,
    `${P}channel_peer_refusals_not_logged_total`,
    'Channel peer refusals whose "refused peer" log line the rate limit left out.',
    () => sources.peers?.().notLogged,
  )
  const r = () => sources.registry?.()
  for (const outcome of ['live', 'gone', 'error'] as const) {
    pulledCounter(
      registry,
      `${P}session_registry_lookups_${outcome}_total`,
      `Session registry lookups answered ${outcome}.`,
      () => r()?.lookups[outcome],
    )
  }
  pulledCounter(
    registry,
    `${P}session_registry_refreshes_total`,
    'Background re-checks of live sessions.',
    () => r()?.refreshes,
  )
  pulledCounter(
    registry,
    `${P}session_registry_lookups_short_circuited_total`,
    'Lookups answered as an outage without asking the registry (backing off, or queue full).',
    () => r()?.shortCircuited,
  )
  pulledGauge(
    registry,
    `${P}session_registry_down`,
    '1 while the last registry lookup failed and lookups back off.',
    () => {
      const s = r()
      return s === undefined ? undefined : s.down ? 1 : 0
    },
  )
  pulledGauge(
    registry,
    `${P}session_registry_oldest_positive_age_seconds`,
    'Age of the oldest cached live answer (staleness).',
    () => r()?.oldestPositiveAgeSeconds,
  )
  return {
    registry,
    observeDecryption: (seconds) => decryptionDuration.observe(seconds),
    observer: decisions,
  }
}
