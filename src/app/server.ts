import * as grpc from '@grpc/grpc-js'
import type { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { StreamObserver } from '../extproc/process-stream.js'
import { type Snapshot, SnapshotHolder } from '../extproc/snapshot.js'
import { HttpRegistry } from '../liveness/http-registry.js'
import { startAdminServer } from '../observe/admin-server.js'
import { decisionLogger } from '../observe/decision-log.js'
import { NO_KEY_FILE_MESSAGE, startHashKeySource } from '../observe/hash-key-source.js'
import { HealthState } from '../observe/health.js'
import { createMetrics } from '../observe/metrics.js'
import { startTlsSource } from '../pki/tls-source.js'
import type { TlsWatcher } from '../pki/watch-serving-tls.js'
import { AuthzError, errnoCode } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { randomHashKey, type SessionHasher } from '../shared/session-hasher.js'
import type { TokenStats } from '../tokens/runner-token-resolver.js'
import type { RunnerTokens } from '../tokens/runner-tokens.js'
import { healthHandler, healthService } from '../transport/grpc-js/health-call.js'
import { externalProcessorService, processHandler } from '../transport/grpc-js/process-call.js'
import { type GrpcJsTlsListener, listenGrpcJsTls } from '../transport/grpc-js/serve-grpc-js.js'
import { http2PeerCheck, type PeerGateStats } from '../transport/http2/peer-check.js'
import {
  type Http2Transport,
  setsStreamResetLimits,
  startHttp2Transport,
} from '../transport/http2/serve-http2.js'
import { DEFAULT_IDLE_PING_MS, DEFAULT_PING_TIMEOUT_MS } from '../transport/http2/session-guard.js'
import { buildCredentials, type Credentials } from './build-credentials.js'
import { buildSnapshot } from './build-snapshot.js'

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
  /**
   * The grpc-js server. With `transport: http2` it serves nothing yet (it is not bound): other
   * gRPC services need their own listen address there, see docs/transports.md.
   */
  readonly grpcServer: grpc.Server
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

/**
 * Settings bound at start (sockets, processes, the channel's certificates and admitted peers): a
 * reload that changes one is refused whole, so nothing is half-applied or silently ignored.
 */
export const RESTART_ONLY = ['listen', 'transport', 'workers', 'tls', 'admin'] as const

/** A reload that changes a restart-only setting. */
export class RestartRequiredError extends AuthzError {
  static readonly code = 'ERR_RESTART_REQUIRED'
  override readonly name = 'RestartRequiredError'
  constructor(readonly settings: readonly string[]) {
    super(
      RestartRequiredError.code,
      `changed settings need a restart: ${settings.join(', ')} (the reload is refused whole; ` +
        'restart to apply them)',
    )
  }
}

function restartOnlyChanges(current: Config, next: Config): string[] {
  return RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]))
}

/** Runner tokens and registry are rebuilt only when their sections change (the cache stays). */
function sameCredentialSettings(a: Config, b: Config): boolean {
  return (
    JSON.stringify([a.runner_tokens, a.session_registry, a.workers]) ===
    JSON.stringify([b.runner_tokens, b.session_registry, b.workers])
  )
}

/** `a` with the counters `keys` of `b` added (retired credentials' counts stay in the metrics). */
function addCounts<T extends object, K extends keyof T>(
  a: T,
  b: Pick<T, K> | undefined,
  keys: readonly K[],
): T {
  if (b === undefined) return a
  const out = { ...a }
  for (const k of keys) (out[k] as number) = (a[k] as number) + (b[k] as number)
  return out
}

const TOKEN_COUNTERS = [
  'hits',
  'misses',
  'coalesced',
  'overloaded',
  'decryptions',
  'decryptSeconds',
  'cacheEvictions',
] as const

function fanOut(observers: readonly StreamObserver[]): StreamObserver {
  if (observers.length === 1) return observers[0] as StreamObserver
  return {
    onDecision(e) {
      for (const o of observers) o.onDecision(e)
    },
  }
}

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/** A listen address that cannot be bound, as one line naming the key and what to do. */
function bindError(err: unknown, keyPath: string, address: string): unknown {
  if (err instanceof AuthzError) return err
  const text = err instanceof Error ? err.message : String(err)
  // node:net and grpc-js (which wraps the errno in its message) alike.
  const errno = errnoCode(err) ?? /\b(E[A-Z]{3,})\b/.exec(text)?.[1]
  const why: Record<string, [string, string]> = {
    EADDRINUSE: ['address already in use', 'stop what listens there, or choose another port'],
    EACCES: ['permission denied', 'ports below 1024 need privileges; choose another port'],
    EADDRNOTAVAIL: ['address not available on this host', 'use an address of this host'],
    ENOTFOUND: ['host name not found', 'use an IP address or a resolvable name'],
  }
  const known = errno === undefined ? undefined : why[errno]
  if (known === undefined) return err
  return new AuthzError('ERR_LISTEN_FAILED', `cannot listen on ${address}: ${known[0]}`, {
    keyPath,
    hint: known[1],
    cause: err,
  })
}

/** The composition root: builds the snapshot, the gRPC server and binds it. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, logger } = options
  if (options.fallbackHashKey === undefined && config.logging.hash_key_file === undefined) {
    logger.info(NO_KEY_FILE_MESSAGE)
  }
  const hashKeys = await startHashKeySource(
    config.logging,
    options.fallbackHashKey ?? randomHashKey(),
    logger,
  )
  // Keys are parsed once here, before the first stream; decisions never read the file system.
  let credentials: Credentials
  let snapshot: Snapshot
  try {
    credentials = await buildCredentials(config, logger)
  } catch (err) {
    hashKeys.close()
    throw err
  }
  try {
    snapshot = buildSnapshot(config, credentials, hashKeys.hasher)
  } catch (err) {
    credentials.close()
    hashKeys.close()
    throw err
  }
  const snapshots = new SnapshotHolder(snapshot)
  let current = config
  // Sources are read at scrape time through closures over components created below.
  let tlsRef: TlsWatcher | undefined
  const connectionStats = { unresponsive: 0 }
  const reloads = { ok: 0, failed: 0 }
  // Counts of runner-token credentials a reload replaced, so the counters never go back.
  let retiredTokenStats: Pick<TokenStats, (typeof TOKEN_COUNTERS)[number]> | undefined
  let retiredKeyReloads = { ok: 0, failed: 0 }
  const decisionLog = decisionLogger(logger, config.logging, { hasher: hashKeys.hasher })
  const metrics = createMetrics({
    decisionLogSampledOut: () => decisionLog.sampledOut(),
    reloads: () => reloads,
    keyReloads: () => {
      const now = credentials.tokens?.reloads() ?? { ok: 0, failed: 0 }
      return addCounts(retiredKeyReloads, now, ['ok', 'failed'])
    },
    activeStreams: () => active,
    tokens: () => {
      const now = credentials.tokens?.resolver.stats()
      return now === undefined ? undefined : addCounts(now, retiredTokenStats, TOKEN_COUNTERS)
    },
    certSecondsUntilExpiry: () => tlsRef?.current().secondsUntilExpiry(),
    certReloads: () => tlsRef?.reloads(),
    connections: () => connectionStats,
    peers: () => peerStats,
    registry: () =>
      credentials.registry instanceof HttpRegistry ? credentials.registry.stats() : undefined,
  })
  const observer = fanOut([decisionLog, metrics.observer, ...(options.observers ?? [])])

  const server = new grpc.Server({
    // Envoy multiplexes every stream of a worker over one connection; keep it open.
    'grpc.keepalive_permit_without_calls': 1,
    // A session nghttp2 stopped reading on its own (its rapid-reset limit sends GOAWAY and the
    // session then ignores the peer's FIN: see transport/http2/session-guard.ts) is found by an
    // unanswered ping and destroyed, instead of sitting in CLOSE-WAIT for good. grpc-js pings
    // every connection at this interval, busy or not.
    'grpc.keepalive_time_ms': DEFAULT_IDLE_PING_MS,
    'grpc.keepalive_timeout_ms': DEFAULT_PING_TIMEOUT_MS,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  })
  let active = 0
  let started = 0
  // Read on every stream start, so a reload that changes limits.max_streams applies at once.
  let maxStreams = config.limits.max_streams
  const peerStats: PeerGateStats = { admitted: 0, refused: 0, notLogged: 0 }
  // Undecided streams are bounded: over the limit a stream is answered 503 overloaded at once
  // and takes no slot, so refusals cannot keep the count over the limit (goodput collapsed to
  // 0.25% at 4x overload when they did). A slot is held from admission to the first answer.
  const onStreamStart = (): boolean => {
    started++
    if (active >= maxStreams) return false
    active++
    return true
  }
  const wire = (c: Credentials) => {
    if (c.tokens === undefined) return
    c.tokens.resolver.onDecryption = metrics.observeDecryption
    // Decryptions on the event loop are batched only while nothing but decryptions arrives.
    c.tokens.resolver.streamsStarted = () => started
  }
  wire(credentials)
  const onStreamEnd = () => {
    active--
  }
  let lean: Http2Transport | undefined
  let grpcTls: GrpcJsTlsListener | undefined
  const tls =
    config.tls === undefined
      ? undefined
      : await startTlsSource(
          config.tls,
          (next) => {
            const options = { ...next.secureContextOptions }
            if (lean !== undefined) lean.setSecureContext(options)
            else grpcTls?.setSecureContext(options)
            logger.info(
              { expiresInSeconds: next.secondsUntilExpiry() },
              'serving certificate rotated',
            )
          },
          logger,
        )
  tlsRef = tls
  const health = new HealthState()
  // Both transports check the peer per connection, before any stream: a peer that may not call
  // Process may not probe Health either.
  server.addService(healthService, healthHandler(health))
  server.addService(
    externalProcessorService,
    processHandler(snapshots, observer, { onStreamStart, onStreamEnd }),
  )

  // Nothing stays behind a start that failed: no listener, watcher or key held open.
  const releaseAll = async () => {
    await lean?.close(0).catch(() => {})
    grpcTls?.close()
    server.forceShutdown()
    tls?.close()
    credentials.close()
  }
  let port: number
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined
  try {
    if (config.transport === 'http2') {
      lean = await startHttp2Transport({
        listen: config.listen,
        snapshots,
        observer,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        onStreamStart,
        onStreamEnd,
        health,
        guard: { onUnresponsive: () => connectionStats.unresponsive++ },
        ...(tls === undefined
          ? {}
          : {
              tls: { ...tls.current().secureContextOptions },
              verifyPeer: http2PeerCheck(() => tls.current().policy, logger, peerStats),
            }),
      })
      port = lean.port
    } else if (tls !== undefined) {
      grpcTls = await listenGrpcJsTls(
        server,
        grpc.ServerCredentials.createInsecure(),
        config.listen,
        tls.current(),
        http2PeerCheck(() => tls.current().policy, logger, peerStats),
      )
      port = grpcTls.port
    } else {
      const insecure = grpc.ServerCredentials.createInsecure()
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(config.listen, insecure, (err, p) => (err ? reject(err) : resolve(p)))
      })
    }
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

  // Everything is built before anything is swapped: a reload is applied whole or not at all.
  const apply = async (next: Config): Promise<void> => {
    const changed = restartOnlyChanges(current, next)
    if (changed.length > 0) throw new RestartRequiredError(changed)
    // Read first: a bad key file refuses the reload before anything else is built.
    const commitHashKey = await hashKeys.prepare(next.logging)
    const reuse = sameCredentialSettings(current, next)
    const nextCredentials = reuse ? credentials : await buildCredentials(next, logger)
    let nextSnapshot: Snapshot
    try {
      nextSnapshot = buildSnapshot(next, nextCredentials, hashKeys.hasher)
    } catch (err) {
      if (!reuse) nextCredentials.close()
      throw err
    }
    // Commit: from here on nothing throws.
    if (!reuse) {
      wire(nextCredentials)
      const old = credentials
      const oldStats = old.tokens?.resolver.stats()
      if (oldStats !== undefined) {
        retiredTokenStats = addCounts(oldStats, retiredTokenStats, TOKEN_COUNTERS)
      }
      const oldReloads = old.tokens?.reloads()
      if (oldReloads !== undefined) {
        retiredKeyReloads = addCounts(retiredKeyReloads, oldReloads, ['ok', 'failed'])
      }
      credentials = nextCredentials
      // Streams that took the old snapshot finish with its resolver; only watchers stop.
      old.close()
    }
    snapshots.swap(nextSnapshot)
    current = next
    maxStreams = next.limits.max_streams
    // Logging applies at once: no restart for a level or a sampling rate.
    logger.level = next.logging.level
    commitHashKey()
    decisionLog.configure(next.logging)
  }
  let applying: Promise<void> = Promise.resolve()

  return {
    port,
    snapshots,
    grpcServer: server,
    transport: config.transport,
    activeStreams: () => active,
    get runnerTokens() {
      return credentials.tokens
    },
    sessionHasher: hashKeys.hasher,
    peerStats,
    health,
    reloads,
    applyConfig(next: Config): Promise<void> {
      const result = applying.then(() => apply(next))
      applying = result.catch(() => {})
      return result
    },
    currentConfig: () => current,
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
      if (lean !== undefined) return lean.close(graceMs)
      grpcTls?.close()
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
