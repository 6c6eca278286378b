import type { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { StreamObserver } from '../extproc/process-stream.js'
import { SnapshotHolder } from '../extproc/snapshot.js'
import { startAdminServer } from '../observe/admin-server.js'
import { decisionLogger } from '../observe/decision-log.js'
import { HealthState } from '../observe/health.js'
import { startTlsSource } from '../pki/tls-source.js'
import type { Logger } from '../shared/logger.js'
import type { SessionHasher } from '../shared/session-hasher.js'
import type { RunnerTokens } from '../tokens/runner-tokens.js'
import {
  type PeerGateStats,
  setsStreamResetLimits,
  startTransport,
  type Transport,
} from '../transport/transport.js'
import { ConfigInForce } from './config-in-force.js'
import { bindError } from './listen-error.js'
import { loadStartState, type StartState } from './load-start-state.js'
import { serverMetrics } from './server-metrics.js'
import { StreamSlots } from './stream-slots.js'

export interface ServerOptions {
  readonly config: Config
  /** Where the config came from, for logs. */
  readonly configSource: string
  readonly logger: Logger
  /** Extra observers beside the decision log (metrics, tests). */
  readonly observers?: readonly StreamObserver[]
  /**
   * The log hash key used while `logging.hash_key_file` is not set: a cluster worker gets the
   * primary's, so all workers hash alike. Absent: a random key made here (and said so in the log).
   */
  readonly fallbackHashKey?: Uint8Array
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number
  readonly snapshots: SnapshotHolder
  /** Which transport serves Process. */
  readonly transport: 'http2' | 'grpc-js'
  /**
   * Applies a new validated config whole: the decision snapshot (policy, identity, headers,
   * limits) together with the runner-token keys and session registry its rules need, and the
   * logging settings. Rejects (keeping everything as it was) when any part cannot be built or
   * when a setting that only a restart can change (RESTART_ONLY) differs. Reloads are applied
   * one at a time, in call order.
   */
  applyConfig(next: Config): Promise<void>
  /** The config in force: the start one, or the last applied reload. */
  currentConfig(): Config
  /** Config reloads by result. */
  readonly reloads: { ok: number; failed: number }
  /** The Prometheus registry behind /metrics. */
  readonly metrics: Registry
  /** The admin HTTP port (/metrics, /healthz, /readyz), when configured. */
  readonly adminPort: number | undefined
  /** grpc.health.v1 state: flip to NOT_SERVING at the start of a drain. */
  readonly health: HealthState
  /** mTLS admission counters (cumulative; zero when plaintext). */
  readonly peerStats: PeerGateStats
  /** Seconds until the serving certificate expires; undefined when plaintext. */
  certSecondsUntilExpiry(): number | undefined
  /** Process streams currently open (per-stream state must not outlive its stream). */
  activeStreams(): number
  /** Stops accepting streams and waits for open ones up to `graceMs`, then cancels them. */
  close(graceMs?: number): Promise<void>
  /** Runner-token keyring and cache of the config in force, when it configures them. */
  readonly runnerTokens: RunnerTokens | undefined
  /** The keyed hash of session ids and path captures the logs carry (its key follows reloads). */
  readonly sessionHasher: SessionHasher
}

function fanOut(observers: readonly StreamObserver[]): StreamObserver {
  if (observers.length === 1) return observers[0] as StreamObserver
  return {
    onDecision(e) {
      for (const o of observers) o.onDecision(e)
    },
  }
}

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/** The composition root: builds the snapshot, the gRPC server and binds it. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const start = await loadStartState(options.config, options.logger, options.fallbackHashKey)
  try {
    return await serve(options, start)
  } catch (err) {
    // Nothing stays behind a start that failed: listeners and the TLS source are closed where
    // they are opened, the keys and their watchers here.
    start.credentials.close()
    start.hashKeys.close()
    throw err
  }
}

/** Builds the servers around what `loadStartState` loaded, binds them and starts serving. */
async function serve(options: ServerOptions, start: StartState): Promise<RunningServer> {
  const { config, logger } = options
  const { hashKeys, credentials } = start
  const snapshots = new SnapshotHolder(start.snapshot)
  let transport: Transport | undefined
  const tls =
    config.tls === undefined
      ? undefined
      : await startTlsSource(
          config.tls,
          (next) => {
            const options = { ...next.secureContextOptions }
            transport?.setSecureContext(options)
            logger.info(
              { expiresInSeconds: next.secondsUntilExpiry() },
              'serving certificate rotated',
            )
          },
          logger,
        )
  const connectionStats = { unresponsive: 0 }
  const reloads = { ok: 0, failed: 0 }
  const slots = new StreamSlots(config.limits.max_streams)
  const peerStats: PeerGateStats = { admitted: 0, refused: 0, notLogged: 0 }
  const decisionLog = decisionLogger(logger, config.logging, { hasher: hashKeys.hasher })
  const metrics = serverMetrics({
    decisionLog,
    reloads,
    credentials,
    slots,
    tls,
    connections: connectionStats,
    peers: peerStats,
  })
  const observer = fanOut([decisionLog, metrics.observer, ...(options.observers ?? [])])

  const { onStreamStart, onStreamEnd } = slots
  credentials.wireEach((c) => {
    if (c.tokens === undefined) return
    c.tokens.resolver.onDecryption = metrics.observeDecryption
    // Decryptions on the event loop are batched only while nothing but decryptions arrives.
    c.tokens.resolver.streamsStarted = () => slots.started
  })
  const health = new HealthState()

  // Nothing stays behind a start that failed: the listener and the TLS source close here, the
  // keys in startServer.
  const releaseAll = async () => {
    await transport?.close(0).catch(() => {})
    tls?.close()
  }
  let port: number
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined
  try {
    // Both transports check the peer per connection, before any stream: a peer that may not
    // call Process may not probe Health either.
    transport = await startTransport(
      config.transport,
      {
        listen: config.listen,
        snapshots,
        observer,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        onStreamStart,
        onStreamEnd,
        health,
        onUnresponsive: () => connectionStats.unresponsive++,
        ...(tls === undefined
          ? {}
          : {
              tls: {
                options: { ...tls.current().secureContextOptions },
                policy: () => tls.current().policy,
                stats: peerStats,
              },
            }),
      },
      logger,
    )
    port = transport.port
  } catch (err) {
    await releaseAll()
    throw bindError(err, 'listen', config.listen)
  }
  try {
    admin =
      config.admin.listen === undefined
        ? undefined
        : await startAdminServer(config.admin.listen, metrics.registry, health)
  } catch (err) {
    await releaseAll()
    throw bindError(err, 'admin.listen', config.admin.listen ?? '')
  }
  if (tls === undefined) {
    logger.warn(
      { listen: config.listen, transport: config.transport },
      'serving plaintext gRPC: for local development only; configure TLS for anything else',
    )
  }
  if (config.transport !== 'http2' || !setsStreamResetLimits()) {
    // docs/transports.md: nghttp2's rapid-reset limit and Envoy's reset of every ext_proc stream.
    logger.warn(
      { transport: config.transport, node: process.versions.node },
      'nghttp2 keeps its stream-reset limit here (1,000 resets, 33/s): Envoy resets every ext_proc ' +
        'stream, so above ~33 requests/s per connection its connections are dropped and re-made; ' +
        'use the http2 transport on Node 22.10 or later',
    )
  }
  health.setServing(true) // config, policy and keys are loaded; the port is bound
  logger.info(
    {
      listen: config.listen,
      port,
      // Logged so a supervisor (or a test) that asked for port 0 can find /metrics.
      admin_port: admin?.port,
      transport: config.transport,
      rules: config.policy.rules.length,
      config: options.configSource,
    },
    'extproc-authz serving',
  )

  const inForce = new ConfigInForce(config, {
    logger,
    hashKeys,
    credentials,
    snapshots,
    slots,
    decisionLog,
  })

  return {
    port,
    snapshots,
    transport: config.transport,
    activeStreams: () => slots.active,
    get runnerTokens() {
      return credentials.current.tokens
    },
    sessionHasher: hashKeys.hasher,
    peerStats,
    health,
    reloads,
    applyConfig: (next: Config): Promise<void> => inForce.apply(next),
    currentConfig: () => inForce.current,
    metrics: metrics.registry,
    adminPort: admin?.port,
    certSecondsUntilExpiry: () => tls?.current().secondsUntilExpiry(),
    close(graceMs = 5000) {
      credentials.close()
      hashKeys.close()
      void admin?.close()
      tls?.close()
      // Watch streams never end on their own: end them (status OK) so they hold no close up.
      health.closeWatches()
      return transport?.close(graceMs) ?? Promise.resolve()
    },
  }
}
