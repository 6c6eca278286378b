import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { grpcFrame } from './frame.js'
import { runLoad } from './load.js'
import { scenarioByName } from './scenarios.js'

// CLI: node dist/bench/loadgen.js --url http://127.0.0.1:50051 --scenario spiffe-allow
//   [--connections 2] [--concurrency 64] [--rate 1000] [--duration 10] [--warmup 1]
//   [--ca ca.pem --cert c.pem --key k.pem --servername name] [--write-frame f.bin]
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:50051' },
    scenario: { type: 'string', default: 'spiffe-allow' },
    connections: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    servername: { type: 'string' },
    'write-frame': { type: 'string' },
  },
})

const scenario = scenarioByName(values.scenario)
const frame = grpcFrame(scenario.request)
if (values['write-frame'] !== undefined) {
  // For h2load --data: the same bytes our generator sends.
  const { writeFileSync } = await import('node:fs')
  writeFileSync(values['write-frame'], frame)
  process.exit(0)
}
const tls = values.url.startsWith('https:')
  ? {
      ca: values.ca === undefined ? undefined : readFileSync(values.ca),
      cert: values.cert === undefined ? undefined : readFileSync(values.cert),
      key: values.key === undefined ? undefined : readFileSync(values.key),
      servername: values.servername,
    }
  : undefined
const result = await runLoad({
  url: values.url,
  frame,
  expect: scenario.expect,
  connections: Number(values.connections),
  concurrency: Number(values.concurrency),
  rate: values.rate === undefined ? undefined : Number(values.rate),
  durationS: Number(values.duration),
  warmupS: Number(values.warmup),
  tls,
  onProgress: (p) => process.stderr.write(`  ${p.rate} streams/s, ${p.errors} errors\n`),
})
process.stdout.write(`${JSON.stringify({ scenario: scenario.name, ...result }, null, 2)}\n`)
