import * as grpc from '@grpc/grpc-js'
import { buildSnapshot, type SnapshotExtensions } from './build-snapshot.js'
import type { Config } from './config/schema.js'
import type { StreamObserver } from './extproc/process-stream.js'
import { SnapshotHolder } from './extproc/snapshot.js'
import { decisionLogger } from './observe/decision-log.js'
import type { Logger } from './observe/logger.js'
import { watchServingTls } from './pki/watch-serving-tls.js'
import { gateImplementation, type PeerGateStats } from './transport/grpc-js-peer-gate.js'
import { externalProcessorService, processHandler } from './transport/grpc-js-process.js'

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
  readonly grpcServer: grpc.Server
  /** mTLS admission counters (cumulative; zero when plaintext). */
  readonly peerStats: PeerGateStats
  /** Seconds until the serving certificate expires; undefined when plaintext. */
  certSecondsUntilExpiry(): number | undefined
  /** Process streams currently open (per-stream state must not outlive its stream). */
  activeStreams(): number
  /** Stops accepting streams and waits for open ones up to `graceMs`, then cancels them. */
  close(graceMs?: number): Promise<void>
}

function fanOut(observers: readonly StreamObserver[]): StreamObserver {
  if (observers.length === 1) return observers[0] as StreamObserver
  return {
    onDecision(e) {
      for (const o of observers) o.onDecision(e)
    },
  }
}

/** The composition root: builds the snapshot, the gRPC server and binds it. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, logger } = options
  const snapshots = new SnapshotHolder(buildSnapshot(config, options.extensions))
  const observer = fanOut([decisionLogger(logger), ...(options.observers ?? [])])

  const server = new grpc.Server({
    // Envoy multiplexes every stream of a worker over one connection; keep it open.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
  })
  let active = 0
  let credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()
  const tls =
    config.tls === undefined
      ? undefined
      : watchServingTls(
          config.tls,
          (next) => {
            // setSecureContext() resets omitted options: pass minVersion again on every rotation.
            const c = credentials as unknown as { updateSecureContextOptions(o: object): void }
            c.updateSecureContextOptions({
              ca: next.ca,
              cert: next.cert,
              key: next.key,
              minVersion: 'TLSv1.3',
            })
            logger.info(
              { expiresInSeconds: next.secondsUntilExpiry() },
              'serving certificate rotated',
            )
          },
          (err) =>
            logger.warn(
              { err: String(err) },
              'TLS files not (yet) usable; keeping the working pair',
            ),
        )
  const peerStats: PeerGateStats = { admitted: 0, refused: 0 }
  const handler = processHandler(snapshots, observer, {
    onStreamStart: () => {
      active++
    },
    onStreamEnd: () => {
      active--
    },
  })
  server.addService(
    externalProcessorService,
    tls === undefined
      ? handler
      : gateImplementation(handler, () => tls.current().policy, logger, peerStats),
  )

  if (tls === undefined) {
    logger.warn(
      { listen: config.listen },
      'serving plaintext gRPC: for local development only; configure TLS for anything else',
    )
  } else {
    // Always pass the bundle: createSsl(null, ...) would verify clients against public roots.
    const first = tls.current()
    credentials = grpc.ServerCredentials.createSsl(
      first.ca,
      [{ cert_chain: first.cert, private_key: first.key }],
      true,
    )
    // createSsl has no minVersion option; grpc-js spreads _getConstructorOptions() into
    // http2.createSecureServer, so TLS 1.3 is pinned there.
    const creds = credentials as unknown as { _getConstructorOptions(): object | null }
    const base = creds._getConstructorOptions.bind(creds)
    creds._getConstructorOptions = () => ({ ...base(), minVersion: 'TLSv1.3' })
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(config.listen, credentials, (err, p) => (err ? reject(err) : resolve(p)))
  })
  logger.info(
    {
      listen: config.listen,
      port,
      rules: config.policy.rules.length,
      config: options.configSource,
    },
    'extproc-authz serving',
  )

  return {
    port,
    snapshots,
    grpcServer: server,
    peerStats,
    certSecondsUntilExpiry: () => tls?.current().secondsUntilExpiry(),
    activeStreams: () => active,
    close(graceMs = 5000) {
      tls?.close()
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
