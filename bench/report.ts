import { median, type NodeBesideOpenssl } from './openssl-speed.js'
import type { LatencyRow, MaxRow } from './rows.js'
import type { ScalingRow } from './scaling.js'
import type { FloodRow, UncachedRow } from './token-runs.js'

interface Result {
  date: string
  machine: { nproc: number; cpu: string; node: string; loadavg: string }
  settings: {
    connections: number
    streamsPerConnection: number
    durationS: number
    repeats: number
  }
  max: MaxRow[]
  uncached: UncachedRow[]
  openssl: Array<Record<string, number>>
  opensslCommand: string
  /** Seconds of uncached load each server had before its first measured round, by key. */
  uncachedWarmS?: Record<string, number>
  /** Per round: privateDecrypt in a loop beside openssl speed, same core (older results lack it). */
  nodeCeiling?: Array<Record<string, NodeBesideOpenssl>>
  flood: FloodRow[]
  scaling: ScalingRow[]
  latency: LatencyRow[]
}

/** One server per key size, warmed once: say for how long (older results lack the field). */
function warmNote(r: Result): string {
  const w = r.uncachedWarmS
  if (w === undefined) return ''
  const each = Object.entries(w).map(([k, s]) => `${s} s for ${k}`)
  return `; one server per key size, measured in every round after a warm-up of uncached load (${each.join(', ')})`
}

/** Node's loop over openssl, both counted per CPU-second over the same seconds on one core. */
const ceilingRatio = (c: NodeBesideOpenssl | undefined) =>
  c === undefined ? Number.NaN : c.node / c.openssl

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-')
const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**')

/** The targets of issue 7, computed from this run only (ratios within the run). */
function targets(r: Result): string[] {
  // The median of per-run ratios to the floor run just before each (paired rows); else the
  // ratio of medians.
  const ratio = (target: string, scenario: string) => {
    const row = (t: string, sc: string) =>
      r.max.find((m) => m.client === 'h2load' && m.target === t && m.scenario === sc)
    const m = row(target, scenario)
    if (m?.pairedRatios !== undefined) return median(m.pairedRatios)
    return (m?.rate ?? 0) / (row('noop-http2', 'spiffe-allow')?.rate ?? 0)
  }
  const allow = ratio('authz-http2', 'spiffe-allow')
  const runner = ratio('authz-http2', 'runner-cached')
  const sampledAllow = ratio('authz-http2 log 1%', 'spiffe-allow')
  const sampledRunner = ratio('authz-http2 log 1%', 'runner-cached')
  const rows = [
    '| target | measured (this run) | |',
    '|---|---|---|',
    `| cached allow ≥ 0.8× node:http2 no-op (h2load, per server core, median of ratios to the no-op run just before), every allow logged (default) | spiffe-allow ${f2(allow)}×, runner-cached ${f2(runner)}× | ${verdict(allow >= 0.8 && runner >= 0.8)} |`,
    `| the same, 1% of allows logged (\`logging.decisions.sample_allow: 0.01\`, as shipped in examples/ and deploy/) | spiffe-allow ${f2(sampledAllow)}×, runner-cached ${f2(sampledRunner)}× | ${verdict(sampledAllow >= 0.8 && sampledRunner >= 0.8)} |`,
  ]
  for (const key of ['rsa2048', 'rsa4096']) {
    const rounds = r.uncached.filter((u) => u.key === key)
    const perCpu = median(
      rounds.map((u, i) => u.perCpuSecond / (r.openssl[i]?.[key] ?? Number.NaN)),
    )
    const wall = median(rounds.map((u, i) => u.rate / (r.openssl[i]?.[key] ?? Number.NaN)))
    const ceiling = median((r.nodeCeiling ?? []).map((c) => ceilingRatio(c[key])))
    const ceilingNote =
      r.nodeCeiling === undefined
        ? ''
        : `; Node's own privateDecrypt in a loop: ${Math.round(ceiling * 100)}% (2)`
    rows.push(
      `| uncached ${key} decryptions ≥ 90% of openssl private ops/s × cores in use (1) | ${Math.round(perCpu * 100)}% per server CPU-second; ${Math.round(wall * 100)}% wall-clock${ceilingNote} | ${verdict(perCpu >= 0.9)} |`,
    )
  }
  const flood = median(r.flood.map((x) => x.p99During / x.p99Before))
  rows.push(
    `| RSA flood raises cached p99 < 2× (1,000/s cached, RSA-2048 flood) | ${f2(flood)}× (median of ${r.flood.length}) | ${verdict(flood < 2)} |`,
  )
  const sc = (w: number, conns: number) =>
    r.scaling.filter((x) => x.workers === w && x.connections === conns)
  const one = median(sc(1, 2).map((x) => x.rate))
  const two = median(sc(2, 2).map((x) => x.rate))
  const perCore =
    median(sc(2, 2).map((x) => x.perServerCore)) / median(sc(1, 2).map((x) => x.perServerCore))
  rows.push(
    `| 1 → 2 cores ≥ 1.8× (workers mode, 2 connections) | ${f2(two / one)}× streams/s; ${f2(perCore)}× streams per server core-second | ${verdict(two / one >= 1.8)} |`,
  )
  const at = (t: string) => r.latency.find((l) => l.target === t && l.offered === 1000)
  const noop = at('noop-http2')
  const authz = at('authz-http2')
  if (noop !== undefined && authz !== undefined) {
    const added = authz.p99 - noop.p99
    rows.push(
      `| processor-added p99 < 2 ms at 1,000/s on one core | ${f2(added)} ms (p99 ${authz.p99} vs no-op ${noop.p99}) | ${verdict(added < 2)} |`,
    )
  }
  return rows
}

/** The Markdown README shows: throughput as ratios to the same-run no-op floor. */
export function renderMarkdown(r: Result): string {
  const noop = r.max.find((m) => m.target === 'noop-http2' && m.client === 'h2load')
  const floor = noop?.rate ?? 0
  const floorCore = noop?.perCore ?? 0
  const lines = [
    `Run ${r.date} on ${r.machine.nproc} x ${r.machine.cpu}, Node ${r.machine.node}; load average at the end ${r.machine.loadavg}.`,
    `Server on CPU 0, generators on CPU 1 (taskset); ${r.settings.connections} connections x ${r.settings.streamsPerConnection} streams, ${r.settings.durationS} s per run; repeated rows are medians of ${r.settings.repeats} alternating runs, each cached-allow run right after a run of the no-op floor (the "paired" column: per-core rate over that floor run's).`,
    '',
    ...targets(r),
    '',
    "(1) `openssl speed` private operations per CPU-second on the server's CPU, run in each round just before the servers are measured; the server's decryptions per CPU-second of its process (all threads).",
    ...(r.nodeCeiling === undefined
      ? []
      : [
          '',
          "(2) `bench/rsa-loop.ts`: node:crypto `privateDecrypt` (RSA-OAEP-SHA256, the server's operation) in a loop and nothing else, started together with `openssl speed -seconds 3 rsaN` on the same CPU; both count operations per CPU-second of their own over the same seconds: what a Node process gets from the operation at best.",
        ]),
    '',
    '| server | scenario | client | streams/s | x no-op node:http2 | runs | per server core | x no-op per core | paired x no-op per core | errors | p50 ms | p99 ms |',
    '|---|---|---|---:|---:|---|---:|---:|---|---:|---:|---:|',
  ]
  for (const m of r.max) {
    const ratio = floor > 0 ? (m.rate / floor).toFixed(2) : '-'
    lines.push(
      `| ${m.target} | ${m.scenario} | ${m.client} | ${m.rate} | ${ratio} | ${m.runs.join(', ')} | ${m.perCore ?? '-'} | ${m.perCore !== undefined && floorCore > 0 ? f2(m.perCore / floorCore) : '-'} | ${m.pairedRatios === undefined ? '-' : `${f2(median(m.pairedRatios))} (${m.pairedRatios.join(', ')})`} | ${m.errors} | ${m.p50 ?? '-'} | ${m.p99 ?? '-'} |`,
    )
  }
  // Against grpc-go: each row's paired ratio (to the node:http2 run just before it) over the
  // Go peer's, so both cancel the same drift.
  const paired = (target: string, scenario = 'spiffe-allow') =>
    median(
      r.max.find(
        (m) =>
          m.target === target &&
          m.scenario === scenario &&
          m.client === 'h2load' &&
          m.pairedRatios !== undefined,
      )?.pairedRatios ?? [],
    )
  const goNoop = paired('grpc-go no-op')
  const goCheck = paired('grpc-go SPIFFE check')
  if (Number.isFinite(goNoop)) {
    lines.push(
      '',
      `Against grpc-go (bench/peers/go, same run, streams per server core, each through its paired ratio to node:http2): node:http2 no-op ${f2(1 / goNoop)}× the grpc-go no-op; ` +
        `extproc-authz spiffe-allow ${f2(paired('authz-http2') / goNoop)}× the grpc-go no-op and ${f2(paired('authz-http2') / goCheck)}× the grpc-go SPIFFE check; ` +
        `with 1% of allows logged ${f2(paired('authz-http2 log 1%') / goCheck)}× the SPIFFE check; runner-cached ${f2(paired('authz-http2', 'runner-cached') / goCheck)}×.`,
    )
  }
  lines.push(
    '',
    `Uncached runner tokens (a unique token per stream, 2 x 16 streams, server on CPU 0) beside \`${r.opensslCommand}\` run just before, each round${warmNote(r)}:`,
    '',
    '| round | key | streams/s | per server CPU-s | server CPU share | openssl private ops/s | per CPU-s / openssl | Node loop / openssl (2) | event-loop CPU ms/req | other threads CPU ms/req | openssl ms/op | p50 ms | p99 ms | tokens sent / pool | errors |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
  )
  const perRound = r.uncached.length / Math.max(1, r.openssl.length)
  for (const [i, u] of r.uncached.entries()) {
    const round = Math.floor(i / perRound)
    const ossl = r.openssl[round]?.[u.key] ?? 0
    lines.push(
      `| ${round + 1} | ${u.key} | ${u.rate} | ${u.perCpuSecond} | ${u.cpuShare} | ${ossl} | ${f2(u.perCpuSecond / ossl)} | ${f2(ceilingRatio(r.nodeCeiling?.[round]?.[u.key]))} | ${u.mainMsPerRequest} | ${u.otherMsPerRequest} | ${ossl > 0 ? (1000 / ossl).toFixed(3) : '-'} | ${u.p50} | ${u.p99} | ${u.started} / ${u.pool} | ${u.errors} |`,
    )
  }
  lines.push(
    '',
    'RSA-2048 flood (2 x 64 streams of unique tokens, closed loop) while cached runner-token traffic runs at 1,000/s; "before" and "during" are 3 alternating segments each (flood off, flood on), pooled:',
    '',
    '| cached p50 before / during ms | cached p99 before / during ms | p99 ratio | cached errors during | flood streams/s | flood refused (503) or failed |',
    '|---|---|---:|---:|---:|---:|',
  )
  for (const x of r.flood) {
    lines.push(
      `| ${x.p50Before} / ${x.p50During} | ${x.p99Before} / ${x.p99During} | ${f2(x.p99During / x.p99Before)} | ${x.cachedErrorsDuring} | ${x.floodRate} | ${x.floodErrors} |`,
    )
  }
  const one = median(r.scaling.filter((x) => x.workers === 1).map((x) => x.rate))
  lines.push(
    '',
    '| authz workers (spiffe-allow) | server CPUs | h2load CPUs | connections | streams/s | x 1 worker (median) | server cores used | streams/s per server core | errors |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
  )
  for (const x of r.scaling) {
    lines.push(
      `| ${x.workers} | ${x.cpus} | ${x.clientCpus} | ${x.connections} | ${x.rate} | ${f2(x.rate / one)} | ${x.serverCores} | ${x.perServerCore} | ${x.errors} |`,
    )
  }
  lines.push(
    '',
    '| server | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | max ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const l of r.latency) {
    lines.push(
      `| ${l.target} ${l.scenario} | ${l.offered} | ${l.achieved} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.max} | ${l.errors} |`,
    )
  }
  return `${lines.join('\n')}\n`
}
