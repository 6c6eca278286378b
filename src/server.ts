import * as grpc from '@grpc/grpc-js'
import type { Registry } from 'prom-client'
import { buildCredentials } from './build-credentials.js'
import { buildSnapshot, type SnapshotExtensions } from './build-snapshot.js'
import type { Config } from './config/schema.js'
import type { StreamObserver } from './extproc/process-stream.js'
import { SnapshotHolder } from './extproc/snapshot.js'
import { HttpRegistry } from './liveness/http-registry.js'
import { startAdminServer } from './observe/admin-server.js'
import { decisionLogger } from './observe/decision-log.js'
import { HealthState } from './observe/health.js'
import type { Logger } from './observe/logger.js'
import { createMetrics } from './observe/metrics.js'
import { http2PeerCheck } from './pki/http2-peer-check.js'
import { startTlsSource } from './pki/tls-source.js'
import type { RunnerTokens } from './tokens/runner-tokens.js'
import { healthHandler, healthService } from './transport/grpc-js-health.js'
import { gateImplementation, type PeerGateStats } from './transport/grpc-js-peer-gate.js'
import { externalProcessorService, processHandler } from './transport/grpc-js-process.js'
import { grpcJsTlsCredentials, rotateGrpcJsCredentials } from './transport/grpc-js-tls.js'
import { type Http2Transport, startHttp2Transport } from './transport/http2/serve-http2.js'

export interface ServerOptions {
  readonly config: Config
  /** Where the config came from, for logs. */
  readonly configSource: string
  readonly logger: Logger
  readonly extensions?: SnapshotExtensions
  /** Extra observers beside the decision log (metrics, tests). */
  readonly observers?: readonly StreamObserver[]
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  readonly port: number
  readonly snapshots: SnapshotHolder
  /**
   * The grpc-js server. With `transport: http2` it serves nothing yet (it is not bound): other
   * gRPC services need their own listen address there, see README "Transports".
   */
  readonly grpcServer: grpc.Server
  /** Which transport serves Process. */
  readonly transport: 'http2' | 'grpc-js'
  /**
   * Swaps in a new validated config's decision snapshot (policy, identity, headers, limits)
   * and its logging settings.
   * Returns the changed settings that only take effect on restart. Throws (and keeps the
   * current snapshot) if the snapshot cannot be built.
   */
  applyConfig(next: Config): string[]
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
  /** Runner-token keyring and cache, when configured. */
  readonly runnerTokens: RunnerTokens | undefined
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
  const { config, logger } = options
  // Keys are parsed once here, before the first stream; decisions never read the file system.
  const credentials_ =
    options.extensions === undefined ? await buildCredentials(config, logger) : undefined
  const tokens = credentials_?.tokens
  const snapshots = new SnapshotHolder(
    buildSnapshot(config, options.extensions ?? credentials_?.extensions),
  )
  // Sources are read at scrape time through closures over components created below.
  let tlsRef: { current(): { secondsUntilExpiry(): number } } | undefined
  const registry = credentials_?.registry
  const reloads = { ok: 0, failed: 0 }
  const decisionLog = decisionLogger(logger, config.logging)
  const metrics = createMetrics({
    decisionLogSampledOut: () => decisionLog.sampledOut(),
    reloads: () => reloads,
    keyReloads: tokens === undefined ? undefined : () => tokens.reloads(),
    activeStreams: () => active,
    tokens: tokens === undefined ? undefined : () => tokens.resolver.stats(),
    certSecondsUntilExpiry: () => tlsRef?.current().secondsUntilExpiry(),
    peers: () => peerStats,
    registry: registry instanceof HttpRegistry ? () => registry.stats() : undefined,
  })
  if (tokens !== undefined) tokens.resolver.onDecryption = metrics.observeDecryption
  const observer = fanOut([decisionLog, metrics.observer, ...(options.observers ?? [])])

  const server = new grpc.Server({
    // Envoy multiplexes every stream of a worker over one connection; keep it open.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  })
  let active = 0
  let started = 0
  // Read on every stream start, so a reload that changes limits.max_streams applies at once.
  let maxStreams = config.limits.max_streams
  const peerStats: PeerGateStats = { admitted: 0, refused: 0 }
  // Streams in flight are bounded: over the limit a stream is answered 503 overloaded at once.
  const onStreamStart = (): boolean => {
    started++
    return ++active <= maxStreams
  }
  // Decryptions on the event loop are batched only while nothing but decryptions arrives.
  if (tokens !== undefined) tokens.resolver.streamsStarted = () => started
  const onStreamEnd = () => {
    active--
  }
  let lean: Http2Transport | undefined
  let credentials = grpc.ServerCredentials.createInsecure()
  const tls =
    config.tls === undefined
      ? undefined
      : await startTlsSource(
          config.tls,
          (next) => {
            if (lean !== undefined) lean.setSecureContext({ ...next.secureContextOptions })
            else rotateGrpcJsCredentials(credentials, next)
            logger.info(
              { expiresInSeconds: next.secondsUntilExpiry() },
              'serving certificate rotated',
            )
          },
          logger,
        )
  tlsRef = tls
  const health = new HealthState()
  // Every service on the port is behind the same peer check (the http2 transport checks the
  // connection): a peer that may not call Process may not probe Health either.
  const gated = (impl: grpc.UntypedServiceImplementation) =>
    tls === undefined
      ? impl
      : gateImplementation(impl, () => tls.current().policy, logger, peerStats)
  server.addService(healthService, gated(healthHandler(health)))
  server.addService(
    externalProcessorService,
    gated(processHandler(snapshots, observer, { onStreamStart, onStreamEnd })),
  )

  if (tls === undefined) {
    logger.warn(
      { listen: config.listen, transport: config.transport },
      'serving plaintext gRPC: for local development only; configure TLS for anything else',
    )
  }
  let port: number
  if (config.transport === 'http2') {
    lean = await startHttp2Transport({
      listen: config.listen,
      snapshots,
      observer,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      onStreamStart,
      onStreamEnd,
      health,
      ...(tls === undefined
        ? {}
        : {
            tls: { ...tls.current().secureContextOptions },
            verifyPeer: http2PeerCheck(() => tls.current().policy, logger, peerStats),
          }),
    })
    port = lean.port
  } else {
    if (tls !== undefined) credentials = grpcJsTlsCredentials(tls.current())
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(config.listen, credentials, (err, p) => (err ? reject(err) : resolve(p)))
    })
  }
  const admin =
    config.admin.listen === undefined
      ? undefined
      : await startAdminServer(config.admin.listen, metrics.registry, health)
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

  return {
    port,
    snapshots,
    grpcServer: server,
    transport: config.transport,
    activeStreams: () => active,
    runnerTokens: tokens,
    peerStats,
    health,
    reloads,
    applyConfig(next: Config): string[] {
      const snapshot = buildSnapshot(next, options.extensions ?? credentials_?.extensions)
      snapshots.swap(snapshot)
      maxStreams = next.limits.max_streams
      // Logging applies at once: no restart for a level or a sampling rate.
      logger.level = next.logging.level
      decisionLog.configure(next.logging)
      const restartOnly = [
        'listen',
        'transport',
        'workers',
        'tls',
        'admin',
        'runner_tokens',
        'session_registry',
      ] as const
      return restartOnly.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(config[k]))
    },
    metrics: metrics.registry,
    adminPort: admin?.port,
    certSecondsUntilExpiry: () => tls?.current().secondsUntilExpiry(),
    close(graceMs = 5000) {
      credentials_?.close()
      void admin?.close()
      tls?.close()
      // Watch streams never end on their own: end them (status OK) so they hold no close up.
      health.closeWatches()
      if (lean !== undefined) return lean.close(graceMs)
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
