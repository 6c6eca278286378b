import pino from 'pino'
import { parseConfig } from '../src/config/load-config.js'
import { createLogger } from '../src/observe/logger.js'
import { startServer } from '../src/server.js'
import { startNoopGrpcJs } from './noop-grpcjs.js'
import { startNoopHttp2 } from './noop-http2.js'
import { scenarioByName } from './scenarios.js'

// A server under test, in its own process (pinned to a core by the runner). Prints
// "PORT <n>" on stdout once listening. Usage: target.js <kind> [scenario]
//   kinds: noop-http2 | noop-grpcjs | authz-http2 | authz-grpc-js

export type TargetKind = 'noop-http2' | 'noop-grpcjs' | 'authz-http2' | 'authz-grpc-js'

async function main(kind: string, scenario: string | undefined): Promise<number> {
  if (kind === 'noop-http2') return startNoopHttp2()
  if (kind === 'noop-grpcjs') return startNoopGrpcJs()
  if (kind === 'authz-http2' || kind === 'authz-grpc-js') {
    const s = scenarioByName(scenario ?? 'public')
    const config = {
      ...parseConfig(s.configYaml, `scenario ${s.name}`),
      listen: '127.0.0.1:0',
      transport: kind === 'authz-http2' ? ('http2' as const) : ('grpc-js' as const),
    }
    // Decision logs at info, as in production, written to /dev/null: their cost is counted.
    const level = process.env.BENCH_LOG_LEVEL === 'silent' ? 'silent' : 'info'
    const logger = createLogger(level, pino.destination({ dest: '/dev/null', sync: false }))
    const server = await startServer({ config, configSource: s.name, logger })
    return server.port
  }
  throw new Error(`unknown target kind ${kind}`)
}

main(process.argv[2] ?? '', process.argv[3]).then(
  (port) => process.stdout.write(`PORT ${port}\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`)
    process.exit(1)
  },
)

// Exit cleanly on signals so `node --cpu-prof` writes its profile.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0))
