import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { grpcFrame } from './frame.js'
import { buildGoPeers, startGoTarget } from './go-peers.js'
import { runH2load } from './h2load.js'
import { runLoad } from './load.js'
import { median, type NodeBesideOpenssl, nodeBesideOpenssl, opensslSpeed } from './openssl-speed.js'
import { treeCpuSeconds } from './proc-cpu.js'
import { spliceReadme } from './readme.js'
import { renderMarkdown } from './report.js'
import type { LatencyRow, MaxRow } from './rows.js'
import {
  cachedTokenFrame,
  makeRunnerKeys,
  type RsaBits,
  uniqueTokenFrames,
  writeRunnerConfig,
} from './runner-scenarios.js'
import { type ScalingRow, scalingRun } from './scaling.js'
import { SCENARIOS, scenarioByName } from './scenarios.js'
import { lineChartSvg } from './svg-plot.js'
import { type RunningTarget, startTarget } from './target-process.js'
import { makeTlsFiles } from './tls-files.js'
import {
  type FloodRow,
  floodRun,
  startUncached,
  type UncachedRow,
  type UncachedServer,
} from './token-runs.js'

// `make bench`: every scenario beside the no-op processors in the same run, so results are
// ratios. Server pinned to CPU 0, load generators to CPU 1 (2-core machine). Writes
// bench/results/latest.{json,md} and latency.svg, and the direct-table block of docs/benchmarks.md.
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    rates: { type: 'string', default: '500,1000,2000,4000,6000,8000' },
    out: { type: 'string', default: 'bench/results' },
    readme: { type: 'string', default: 'docs/benchmarks.md' },
    quick: { type: 'boolean', default: false },
  },
})
const durationS = Number(values.duration)
const warmupS = Number(values.warmup)
const repeats = Number(values.repeats)
const SERVER_CPU = '0'
const CLIENT_CPU = '1'
const CONNS = 2
const STREAMS = 64
const log = (s: string) => process.stderr.write(`${s}\n`)

const maxRows: MaxRow[] = []
const latencyRows: LatencyRow[] = []
const keys = makeRunnerKeys()
const runnerConfig = { 2048: writeRunnerConfig(keys, 2048), 4096: writeRunnerConfig(keys, 4096) }
const cachedFrame = cachedTokenFrame(keys.publicKey[2048])

interface H2Target {
  target: string
  scenario: string
  label?: string
  env?: NodeJS.ProcessEnv
  frame: Buffer
  /** A server other than bench/target.js (the Go peers). */
  start?: () => Promise<RunningTarget>
}

function h2(target: string, scenario: string): H2Target {
  return { target, scenario, frame: grpcFrame(scenarioByName(scenario).request) }
}
const runnerCached: H2Target = {
  target: 'authz-http2',
  scenario: 'runner-cached',
  env: { BENCH_CONFIG_FILE: runnerConfig[2048] },
  frame: cachedFrame,
}

async function h2loadOnce(t: H2Target): Promise<{ rate: number; errors: number; perCore: number }> {
  const server =
    t.start === undefined
      ? await startTarget(t.target, t.scenario, { cpus: SERVER_CPU, env: t.env })
      : await t.start()
  try {
    const cpu0 = treeCpuSeconds(server.pid)
    const wall0 = performance.now()
    const r = await runH2load({
      port: server.port,
      frame: t.frame,
      connections: CONNS,
      concurrency: STREAMS,
      durationS,
      warmupS,
      cpus: CLIENT_CPU,
    })
    // Other tenants take part of the server's core: divide by the share it really got.
    const cores = (treeCpuSeconds(server.pid) - cpu0) / ((performance.now() - wall0) / 1000)
    const perCore = cores > 0 ? Math.round(r.rate / cores) : 0
    log(
      `h2load   ${(t.label ?? t.target).padEnd(22)} ${t.scenario.padEnd(14)} ${r.rate} streams/s, ${perCore} per server core`,
    )
    return { rate: r.rate, errors: r.failed, perCore }
  } finally {
    await server.stop()
  }
}

/**
 * Runs each target `n` times, alternating (A B C A B C ...), and records the median. With
 * `paired`, targets[0] is the floor and runs again right before every other target (F A F B F
 * C ...): each target's per-core rate is divided by that of the floor run just before it, and
 * the median of those ratios is recorded. The machine's speed drifts by tens of percent within
 * minutes; a ratio of adjacent runs cancels most of the drift that a ratio of medians keeps.
 */
async function h2loadAlternating(targets: H2Target[], n: number, paired = false): Promise<void> {
  const runs = targets.map(() => [] as number[])
  const perCore = targets.map(() => [] as number[])
  const ratios = targets.map(() => [] as number[])
  const errors = targets.map(() => 0)
  const record = (j: number, r: { rate: number; errors: number; perCore: number }) => {
    runs[j]?.push(r.rate)
    perCore[j]?.push(r.perCore)
    errors[j] = (errors[j] ?? 0) + r.errors
  }
  for (let i = 0; i < n; i++) {
    for (const [j, t] of targets.entries()) {
      if (paired && j === 0) continue
      let floor: number | undefined
      if (paired) {
        const f = await h2loadOnce(targets[0] as H2Target)
        record(0, f)
        floor = f.perCore
      }
      const r = await h2loadOnce(t)
      record(j, r)
      if (floor !== undefined && floor > 0) ratios[j]?.push(r.perCore / floor)
    }
  }
  for (const [j, t] of targets.entries()) {
    const rs = runs[j] ?? []
    const ps = ratios[j] ?? []
    maxRows.push({
      target: t.label ?? t.target,
      scenario: t.scenario,
      client: 'h2load',
      rate: Math.round(median(rs)),
      runs: rs,
      perCore: Math.round(median(perCore[j] ?? [])),
      ...(ps.length > 0 ? { pairedRatios: ps.map((x) => Math.round(x * 100) / 100) } : {}),
      errors: errors[j] ?? 0,
    })
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
  const base = { url: `${scheme}:${t.port}`, tls, frame: grpcFrame(s.request), expect: s.expect }
  try {
    if (rate !== undefined) {
      // A fresh process is cold: JIT it at a modest closed-loop load first, so the open-loop
      // run measures the steady state rather than a backlog built while compiling.
      await runLoad({ ...base, connections: CONNS, concurrency: 4, durationS: 2, warmupS: 0 })
    }
    const r = await runLoad({
      ...base,
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
      `loadgen  ${target.padEnd(22)} ${scenario.padEnd(14)} ${rate ?? 'max'} -> ${r.rate}/s ` +
        `p50 ${l.p50} p99 ${l.p99} max ${l.max} ms, ${r.errors} errors`,
    )
    if (rate === undefined) {
      const row = { target, scenario, client: 'loadgen' as const, rate: r.rate, runs: [r.rate] }
      maxRows.push({ ...row, errors: r.errors, p50: l.p50, p99: l.p99 })
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

const started = new Date()
log(`extproc-authz bench: ${durationS}s per run after ${warmupS}s warm-up; server on CPU 0`)

// 1. Throughput ceilings by h2load (C: not the bottleneck). The no-op floor and the cached
// allow decisions, with every allow logged (the default) and with 1% of allows logged (as
// examples/config.yaml and the Kubernetes ConfigMap ship), are repeated, alternating, and
// reported as medians. h2load repeats one frame, so one x-request-id: at 0.01 that id is
// sampled out (inSample), so the sampled rows pay the sampling decision on every stream and
// no log line, 0.01 × one line's cost (~8 µs) below the real thing.
const SAMPLED = { BENCH_SAMPLE_ALLOW: '0.01' }
// The Go peers (bench/peers/go, grpc-go): what users would otherwise deploy. Plaintext h2c on
// the server CPU like every other target; GOMAXPROCS follows the pinning (1).
const goPeers = buildGoPeers()
if (typeof goPeers === 'string') log(`bench: Go rows left out: ${goPeers}`)
const goTargets: H2Target[] =
  typeof goPeers === 'string'
    ? []
    : (['noop', 'spiffe'] as const).map((mode) => ({
        ...h2('noop-http2', 'spiffe-allow'),
        target: mode === 'noop' ? 'grpc-go no-op' : 'grpc-go SPIFFE check',
        start: () => startGoTarget(goPeers.peer, mode, SERVER_CPU),
      }))
await h2loadAlternating(
  [
    h2('noop-http2', 'spiffe-allow'),
    h2('authz-http2', 'spiffe-allow'),
    runnerCached,
    { ...h2('authz-http2', 'spiffe-allow'), label: 'authz-http2 log 1%', env: SAMPLED },
    {
      ...runnerCached,
      label: 'authz-http2 log 1%',
      env: { ...runnerCached.env, ...SAMPLED },
    },
    ...goTargets,
  ],
  values.quick ? 1 : repeats,
  true,
)
if (!values.quick) {
  await h2loadAlternating([h2('noop-grpcjs', 'spiffe-allow')], 1)
  for (const s of SCENARIOS.map((x) => x.name)) {
    if (s !== 'spiffe-allow') await h2loadAlternating([h2('authz-http2', s)], 1)
    await h2loadAlternating([h2('authz-grpc-js', s)], 1)
  }
  await ourLoad('noop-http2', 'spiffe-allow')
  await ourLoad('authz-http2', 'spiffe-allow')
  await ourLoad('authz-http2-mtls', 'spiffe-allow')
}

// 2. Uncached runner tokens (unique token per stream) against openssl speed, alternating. One
// server per key size, warmed once (bench/token-runs.ts: V8 needs tens of seconds at these
// rates), then measured each round right after openssl speed.
const rounds = values.quick ? 1 : repeats
const warm = { 2048: values.quick ? 3 : 20, 4096: values.quick ? 3 : 30 }
// Enough tokens for the warm-up and every round at up to ~1.5x the rates seen here.
const pools = {
  2048: uniqueTokenFrames(keys.publicKey[2048], 1500 * (warm[2048] + rounds * durationS), 'u'),
  4096: uniqueTokenFrames(keys.publicKey[4096], 300 * (warm[4096] + rounds * durationS), 'u'),
}
const uncached: UncachedRow[] = []
const openssl: Array<Record<string, number>> = []
const nodeCeiling: Array<Record<string, NodeBesideOpenssl>> = []
let opensslCommand = ''
const uncachedServers: Record<RsaBits, UncachedServer> = {
  2048: await startUncached('rsa2048', runnerConfig[2048], pools[2048], warm[2048], SERVER_CPU),
  4096: await startUncached('rsa4096', runnerConfig[4096], pools[4096], warm[4096], SERVER_CPU),
}
log(`loadgen  runner-uncached servers warmed (${warm[2048]} s RSA-2048, ${warm[4096]} s RSA-4096)`)
for (let i = 0; i < rounds; i++) {
  const o = await opensslSpeed(3, SERVER_CPU)
  openssl.push(o.privateOps)
  opensslCommand = o.command
  log(`openssl  rsa2048 ${o.privateOps.rsa2048}/s rsa4096 ${o.privateOps.rsa4096}/s (private ops)`)
  // Node's own ceiling: privateDecrypt in a loop, sharing the core with openssl speed.
  const ceiling: Record<string, NodeBesideOpenssl> = {}
  for (const bits of [2048, 4096] as const) {
    const c = await nodeBesideOpenssl(bits, keys.privateFile[bits], 3, SERVER_CPU)
    ceiling[`rsa${bits}`] = c
    log(`node     rsa${bits} privateDecrypt loop ${c.node}/CPU-s beside openssl ${c.openssl}/CPU-s`)
  }
  nodeCeiling.push(ceiling)
  for (const bits of [2048, 4096] as const) {
    const r = await uncachedServers[bits].measure(durationS)
    log(
      `loadgen  runner-uncached rsa${bits}: ${r.rate}/s, ${r.perCpuSecond} per server CPU-s (share ${r.cpuShare}), ${r.errors} errors, ${r.started}/${r.pool} tokens`,
    )
    uncached.push(r)
  }
}
await Promise.all(Object.values(uncachedServers).map((s) => s.stop()))

// 3. RSA flood of unique tokens while cached traffic runs at 1,000/s: p99 during vs before.
const flood: FloodRow[] = []
const floodPool = uniqueTokenFrames(keys.publicKey[2048], 12_000, 'f')
for (let i = 0; i < (values.quick ? 1 : repeats); i++) {
  const r = await floodRun(runnerConfig[2048], cachedFrame, floodPool, 1000, durationS, SERVER_CPU)
  log(`flood    cached p99 ${r.p99Before} -> ${r.p99During} ms; flood ${r.floodRate}/s`)
  flood.push(r)
}

// 4. Multi-core: the workers mode, 2 connections (as 2 Envoy workers open), pinned.
const scaling: ScalingRow[] = []
const scale = (w: number, c: string, cc: string, conns: number) =>
  scalingRun(w, c, cc, conns, STREAMS, durationS, warmupS).then((r) => {
    log(
      `h2load   workers=${w} cpus=${c} client=${cc} connections=${conns}: ${r.rate}/s, server ${r.serverCores} cores`,
    )
    scaling.push(r)
  })
for (let i = 0; i < (values.quick ? 1 : repeats); i++) {
  await scale(1, '0', '1', 2)
  await scale(2, '0,1', '0,1', 2)
}
if (!values.quick) {
  await scale(2, '0,1', '0,1', 1)
  await scale(2, '0,1', '0,1', 4)
}

// 5. Latency against offered load (open loop), no-op beside the processor.
const rates = values.quick ? [1000] : values.rates.split(',').map(Number)
for (const rate of rates) {
  await ourLoad('noop-http2', 'spiffe-allow', rate)
  await ourLoad('authz-http2', 'spiffe-allow', rate)
}
if (!values.quick) await ourLoad('authz-http2-mtls', 'spiffe-allow', 1000)

const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const result = {
  date: started.toISOString(),
  finished: new Date().toISOString(),
  machine: {
    nproc: cpus().length,
    cpu: cpuModel ?? 'unknown',
    node: process.version,
    loadavg: load,
  },
  settings: { connections: CONNS, streamsPerConnection: STREAMS, durationS, warmupS, repeats },
  max: maxRows,
  uncached,
  openssl,
  opensslCommand,
  uncachedWarmS: { rsa2048: warm[2048], rsa4096: warm[4096] },
  nodeCeiling,
  flood,
  scaling,
  latency: latencyRows,
}
mkdirSync(values.out, { recursive: true })
const md = renderMarkdown(result)
writeFileSync(`${values.out}/latest.json`, `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(`${values.out}/latest.md`, md)
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
if (values.readme !== '') spliceReadme(values.readme, md)
log(md)
