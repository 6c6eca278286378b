import type { LatencyRow, MaxRow, ScalingRow } from './run.js'

interface Result {
  date: string
  machine: { nproc: number; cpu: string; node: string }
  settings: { connections: number; streamsPerConnection: number; durationS: number }
  max: MaxRow[]
  scaling: ScalingRow[]
  latency: LatencyRow[]
}

/** The Markdown tables README shows: throughput as ratios to the same-run no-op floor. */
export function renderMarkdown(r: Result): string {
  const floor = r.max.find((m) => m.target === 'noop-http2' && m.client === 'h2load')?.rate ?? 0
  const lines = [
    `Run ${r.date} on ${r.machine.nproc} x ${r.machine.cpu}, Node ${r.machine.node}; server on one`,
    `core, client on the other; ${r.settings.connections} connections x ${r.settings.streamsPerConnection} streams, ${r.settings.durationS} s per run.`,
    '',
    '| server | scenario | client | streams/s | x no-op node:http2 | errors | p50 ms | p99 ms |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ]
  for (const m of r.max) {
    const ratio = floor > 0 ? (m.rate / floor).toFixed(2) : '-'
    lines.push(
      `| ${m.target} | ${m.scenario} | ${m.client} | ${m.rate} | ${ratio} | ${m.errors} | ${m.p50 ?? '-'} | ${m.p99 ?? '-'} |`,
    )
  }
  const one = r.scaling.find((x) => x.workers === 1)?.rate ?? 0
  lines.push(
    '',
    '| authz workers (spiffe-allow) | CPUs | h2load connections | streams/s | x 1 worker | errors |',
    '|---|---|---:|---:|---:|---:|',
  )
  for (const x of r.scaling) {
    const ratio = one > 0 ? (x.rate / one).toFixed(2) : '-'
    lines.push(
      `| ${x.workers} | ${x.cpus} | ${x.connections} | ${x.rate} | ${ratio} | ${x.errors} |`,
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
