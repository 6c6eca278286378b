import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { buildSnapshot } from '../src/app/build-snapshot.js'
import { runWorkers } from '../src/app/run-workers.js'
import { startServer } from '../src/app/server.js'
import { askPrimaryForHashKey } from '../src/app/share-hash-key.js'
import { parseConfig } from '../src/config/load-config.js'
import { SnapshotHolder } from '../src/extproc/snapshot.js'
import { decisionLogger } from '../src/observe/decision-log.js'
import { createLogger, logDestination } from '../src/shared/logger.js'
import { randomHashKey } from '../src/shared/session-hasher.js'
import { startHttp2Transport } from '../src/transport/http2/serve-http2.js'
import { startNoopGrpcJs } from './noop-grpcjs.js'
import { startNoopHttp2 } from './noop-http2.js'
import { scenarioByName } from './scenarios.js'
import { readTlsFiles } from './tls-files.js'

// A server under test, in its own process (pinned to a core by the runner). Prints
// "PORT <n>" on stdout once listening. Usage: target.js <kind> [scenario]
//   kinds: noop-http2 | noop-grpcjs | authz-http2 | authz-grpc-js | authz-http2-cluster |
//   authz-http2-mtls (the lean transport over TLS 1.3 with client certificates and a verifyPeer
//   hook, certificates from BENCH_TLS_DIR)
//   (BENCH_WORKERS=n processes via the product's runWorkers, default 2)

export type TargetKind = 'noop-http2' | 'noop-grpcjs' | 'authz-http2' | 'authz-grpc-js'

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
    })
  })
}

async function main(kind: string, scenario: string | undefined): Promise<number> {
  if (kind === 'authz-http2-cluster') {
    if (cluster.isPrimary) {
      const workers = Number(process.env.BENCH_WORKERS ?? '2')
      const port = await freePort()
      process.env.BENCH_PORT = String(port)
      const listening = new Promise<void>((resolve) => {
        let n = 0
        cluster.on('listening', () => {
          if (++n === workers) resolve()
        })
      })
      void runWorkers(workers, createLogger('warn'), randomHashKey()).then((code) =>
        process.exit(code),
      )
      await listening
      return port
    }
    return startAuthz('http2', scenario, `127.0.0.1:${process.env.BENCH_PORT}`).then(() => -1)
  }
  if (kind === 'authz-http2-mtls') {
    const tls = readTlsFiles(process.env.BENCH_TLS_DIR ?? '')
    const s = scenarioByName(scenario ?? 'public')
    const config = parseConfig(s.configYaml, `scenario ${s.name}`)
    const logger = createLogger('info', logDestination('/dev/null'))
    const transport = await startHttp2Transport({
      listen: '127.0.0.1:0',
      snapshots: new SnapshotHolder(buildSnapshot(config)),
      observer: decisionLogger(logger),
      maxMessageBytes: 4 * 1024 * 1024,
      tls: {
        key: tls.key,
        cert: tls.cert,
        ca: tls.cert,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      // Stands in for channel mTLS: a per-connection check of the peer's URI SAN.
      verifyPeer: (chain) => String(chain?.subjectaltname).includes('URI:spiffe://example.org/'),
    })
    return transport.port
  }
  if (kind === 'noop-http2') return startNoopHttp2()
  if (kind === 'noop-grpcjs') return startNoopGrpcJs()
  if (kind === 'authz-http2' || kind === 'authz-grpc-js') {
    return startAuthz(kind === 'authz-http2' ? 'http2' : 'grpc-js', scenario, '127.0.0.1:0')
  }
  throw new Error(`unknown target kind ${kind}`)
}

async function startAuthz(
  transport: 'http2' | 'grpc-js',
  scenario: string | undefined,
  listen: string,
): Promise<number> {
  // BENCH_CONFIG_FILE: a config written at run time (runner-token scenarios need fresh keys).
  const file = process.env.BENCH_CONFIG_FILE
  const [yaml, source] =
    file === undefined
      ? [scenarioByName(scenario ?? 'public').configYaml, `scenario ${scenario}`]
      : [readFileSync(file, 'utf8'), file]
  const parsed = parseConfig(yaml, source)
  // BENCH_SAMPLE_ALLOW: the fraction of allows logged (logging.decisions.sample_allow), to
  // measure the decision log as the example and Kubernetes configs ship it (0.01).
  const sampleAllow = process.env.BENCH_SAMPLE_ALLOW
  const logging =
    sampleAllow === undefined
      ? parsed.logging
      : {
          ...parsed.logging,
          decisions: { ...parsed.logging.decisions, sample_allow: Number(sampleAllow) },
        }
  // BENCH_DECISION_METADATA=off|on|request_id: decision_metadata off, on, or on with request_id,
  // to measure what each costs (ab.ts --b-env). Unset: the scenario's config (the default, on).
  const metadata = process.env.BENCH_DECISION_METADATA
  const decision_metadata =
    metadata === undefined
      ? parsed.decision_metadata
      : {
          ...parsed.decision_metadata,
          enabled: metadata !== 'off',
          request_id: metadata === 'request_id',
        }
  const config = { ...parsed, logging, decision_metadata, listen, transport }
  // Decision logs at info, as in production, written to /dev/null: their cost is counted.
  // BENCH_LOG_LEVEL=warn measures what the decision log costs.
  const level = (process.env.BENCH_LOG_LEVEL ?? 'info') as 'info' | 'warn' | 'silent'
  const logger = createLogger(level, logDestination('/dev/null'))
  const server = await startServer({
    config,
    configSource: source,
    logger,
    // Cluster workers share the primary's log hash key, as under `serve --workers`.
    ...(cluster.isWorker ? { fallbackHashKey: await askPrimaryForHashKey() } : {}),
  })
  return server.port
}

main(process.argv[2] ?? '', process.argv[3]).then(
  (port) => {
    if (port >= 0) process.stdout.write(`PORT ${port}\n`)
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`)
    process.exit(1)
  },
)

// Exit cleanly on signals so `node --cpu-prof` writes its profile.
// (The cluster primary's runWorkers handles its own signals and forwards them.)
if (!(cluster.isPrimary && process.argv[2] === 'authz-http2-cluster')) {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0))
}
