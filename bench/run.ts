import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { grpcFrame } from './frame.js'
import { runH2load } from './h2load.js'
import { runLoad } from './load.js'
import { renderMarkdown } from './report.js'
import { SCENARIOS, scenarioByName } from './scenarios.js'
import { lineChartSvg } from './svg-plot.js'
import { startTarget } from './target-process.js'
import { makeTlsFiles } from './tls-files.js'

// `make bench`: the standard scenarios beside no-op processors in the same run, so results are
// ratios. Server pinned to CPU 0, load generators to CPU 1 (2-core machine). Writes
// bench/results/latest.{json,md} and latency.svg.
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rates: { type: 'string', default: '500,1000,2000,4000,6000,8000' },
    out: { type: 'string', default: 'bench/results' },
    quick: { type: 'boolean', default: false },
  },
})
const durationS = Number(values.duration)
const warmupS = Number(values.warmup)
const SERVER_CPU = '0'
const CLIENT_CPU = '1'
const CONNS = 2
const STREAMS = 64
const log = (s: string) => process.stderr.write(`${s}\n`)

export interface MaxRow {
  target: string
  scenario: string
  client: 'h2load' | 'loadgen'
  rate: number
  errors: number
  p50?: number
  p99?: number
}
export interface LatencyRow {
  target: string
  scenario: string
  offered: number
  achieved: number
  errors: number
  p50: number
  p90: number
  p99: number
  max: number
}

export interface ScalingRow {
  workers: number
  cpus: string
  connections: number
  rate: number
  errors: number
}

const maxRows: MaxRow[] = []
const latencyRows: LatencyRow[] = []

async function h2loadMax(target: string, scenario: string): Promise<void> {
  const t = await startTarget(target, scenario, { cpus: SERVER_CPU })
  try {
    const r = await runH2load({
      port: t.port,
      frame: grpcFrame(scenarioByName(scenario).request),
      connections: CONNS,
      concurrency: STREAMS,
      durationS,
      warmupS,
      cpus: CLIENT_CPU,
    })
    log(`h2load   ${target.padEnd(14)} ${scenario.padEnd(13)} ${r.rate} streams/s`)
    maxRows.push({ target, scenario, client: 'h2load', rate: r.rate, errors: r.failed })
  } finally {
    await t.stop()
  }
}

const tlsFiles = makeTlsFiles()

async function ourLoad(target: string, scenario: string, rate?: number): Promise<void> {
  const s = scenarioByName(scenario)
  const mtls = target.endsWith('-mtls')
  const t = await startTarget(target, scenario, {
    cpus: SERVER_CPU,
    env: { BENCH_TLS_DIR: tlsFiles.dir },
  })
  const scheme = mtls ? 'https://localhost' : 'http://127.0.0.1'
  const tls = mtls ? { ca: tlsFiles.cert, cert: tlsFiles.cert, key: tlsFiles.key } : undefined
  try {
    if (rate !== undefined) {
      // A fresh process is cold: JIT it at a modest closed-loop load first, so the open-loop
      // run measures the steady state rather than a backlog built while compiling.
      await runLoad({
        url: `${scheme}:${t.port}`,
        tls,
        frame: grpcFrame(s.request),
        expect: s.expect,
        connections: CONNS,
        concurrency: 4,
        durationS: 2,
        warmupS: 0,
      })
    }
    const r = await runLoad({
      url: `${scheme}:${t.port}`,
      tls,
      frame: grpcFrame(s.request),
      expect: s.expect,
      connections: CONNS,
      concurrency: rate === undefined ? STREAMS : 4096,
      rate,
      durationS,
      warmupS,
      onProgress: (p) => process.stderr.write(`\r  ${p.rate} streams/s ${p.errors} errors   `),
    })
    process.stderr.write('\r')
    const l = r.latencyMs
    log(
      `loadgen  ${target.padEnd(14)} ${scenario.padEnd(13)} ${rate ?? 'max'} -> ${r.rate}/s ` +
        `p50 ${l.p50} p99 ${l.p99} max ${l.max} ms, ${r.errors} errors`,
    )
    if (rate === undefined) {
      maxRows.push({
        target,
        scenario,
        client: 'loadgen',
        rate: r.rate,
        errors: r.errors,
        p50: l.p50,
        p99: l.p99,
      })
    } else {
      latencyRows.push({
        target,
        scenario,
        offered: rate,
        achieved: r.rate,
        errors: r.errors,
        p50: l.p50,
        p90: l.p90,
        p99: l.p99,
        max: l.max,
      })
    }
  } finally {
    await t.stop()
  }
}

const scenarios = values.quick ? ['spiffe-allow'] : SCENARIOS.map((s) => s.name)
const started = new Date()
log(`extproc-authz bench: ${durationS}s per run after ${warmupS}s warm-up; server on CPU 0`)

// 1. Throughput ceilings, measured by h2load (C: not the bottleneck) and by our generator.
await h2loadMax('noop-http2', 'spiffe-allow')
await h2loadMax('noop-grpcjs', 'spiffe-allow')
for (const s of scenarios) {
  await h2loadMax('authz-http2', s)
  await h2loadMax('authz-grpc-js', s)
}
await ourLoad('noop-http2', 'spiffe-allow')
await ourLoad('authz-http2', 'spiffe-allow')
await ourLoad('authz-http2-mtls', 'spiffe-allow')

// 2. Multi-core: the product's workers mode, 1 vs 2 cores, h2load unpinned (it shares the
// cores: only 2 here). One connection feeds only one worker: balancing is per connection.
const scaling: ScalingRow[] = []
for (const [workers, cpuSet, conns] of [
  [1, '0', 2],
  [2, '0,1', 2],
  [2, '0,1', 1],
  [2, '0,1', 4],
] as const) {
  const t = await startTarget('authz-http2-cluster', 'spiffe-allow', {
    cpus: cpuSet,
    env: { BENCH_WORKERS: String(workers) },
  })
  try {
    const r = await runH2load({
      port: t.port,
      frame: grpcFrame(scenarioByName('spiffe-allow').request),
      connections: conns,
      concurrency: STREAMS,
      durationS,
      warmupS,
    })
    log(`h2load   workers=${workers} cpus=${cpuSet} connections=${conns}: ${r.rate} streams/s`)
    scaling.push({ workers, cpus: cpuSet, connections: conns, rate: r.rate, errors: r.failed })
  } finally {
    await t.stop()
  }
}

// 3. Latency against offered load (open loop), no-op beside the processor.
const rates = values.rates.split(',').map(Number)
for (const rate of rates) {
  await ourLoad('noop-http2', 'spiffe-allow', rate)
  await ourLoad('authz-http2', 'spiffe-allow', rate)
}
await ourLoad('authz-http2-mtls', 'spiffe-allow', 1000)

const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]
const result = {
  date: started.toISOString(),
  machine: { nproc: cpus().length, cpu: cpuModel ?? 'unknown', node: process.version },
  settings: { connections: CONNS, streamsPerConnection: STREAMS, durationS, warmupS },
  max: maxRows,
  scaling,
  latency: latencyRows,
}
mkdirSync(values.out, { recursive: true })
writeFileSync(`${values.out}/latest.json`, `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(`${values.out}/latest.md`, renderMarkdown(result))
const series = ['noop-http2', 'authz-http2'].map((target) => ({
  name: target === 'noop-http2' ? 'no-op (node:http2)' : 'authz spiffe-allow',
  points: latencyRows.filter((r) => r.target === target).map((r) => ({ x: r.offered, y: r.p99 })),
}))
writeFileSync(
  `${values.out}/latency.svg`,
  lineChartSvg(
    'p99 latency vs offered load (1 server core)',
    'offered streams/s',
    'p99 ms',
    series,
  ),
)
log(renderMarkdown(result))
