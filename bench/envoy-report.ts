import { spliceBlock } from './readme.js'
import { lineChartSvg } from './svg-plot.js'

// Renders the Envoy-in-the-loop results (bench/envoy-run.ts) as the markdown block that
// docs/benchmarks.md carries between its markers. Every figure is a median over the rounds of
// one run; "added" is a processor's figure minus Envoy-without-ext_proc's in the same round at
// the same offered load (pairs cancel most of the shared machine's drift).

export interface Measurement {
  row: string
  label: string
  scenario: string
  offered: number | 'max'
  round: number
  /** Successful requests/s over the measured window. */
  rate: number
  errors: number
  statuses: Record<string, number>
  /** End-to-end latency at the load generator, ms. */
  p50: number
  p99: number
  max: number
  /** Envoy's request_header_latency_us for the ext_proc call, over the measured window. */
  extProcP50Us?: number | undefined
  extProcP99Us?: number | undefined
  /** Requests Envoy logged during the run: the divisor of the CPU figures. */
  logged: number
  envoyCpuPer1000: number
  processorCpuPer1000: number
  /** The tail of the processor's output when it exited during the run (restarted after). */
  processorExited?: string
}

export interface EnvoyResult {
  date: string
  finished: string
  machine: {
    nproc: number
    cpu: string
    loadavgBefore: string
    loadavgAfter: string
    go: string
    envoy: string
  }
  layout: string
  settings: {
    durationS: number
    warmupS: number
    rounds: number
    rates: number[]
    connections: number
    concurrency: number
  }
  rows: Array<{ id: string; label: string }>
  commands: string[]
  measurements: Measurement[]
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** "" when every request got its 200, else " (n errors: 500×k, …)". */
function errorsNote(ms: readonly Measurement[]): string {
  const n = ms.reduce((a, m) => a + m.errors, 0)
  if (n === 0) return ''
  const by = new Map<string, number>()
  for (const m of ms)
    for (const [k, v] of Object.entries(m.statuses))
      if (k !== '200') by.set(k, (by.get(k) ?? 0) + v)
  const kinds = [...by].map(([k, v]) => `${k}×${v}`).join(', ')
  return ` (${n} errors${kinds === '' ? '' : `: ${kinds}`})`
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-')
const int = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : '-')

function pick(r: EnvoyResult, row: string, scenario: string, offered: number | 'max') {
  // A run during which the processor exited is listed apart, not counted.
  return r.measurements.filter(
    (m) =>
      m.row === row &&
      m.scenario === scenario &&
      m.offered === offered &&
      m.processorExited === undefined,
  )
}

/** Per round: this measurement minus Envoy-alone's in the same round at the same load. */
function addedBy(r: EnvoyResult, ms: Measurement[], key: 'p50' | 'p99'): number[] {
  return ms.map((m) => {
    const base = pick(r, 'none', 'spiffe-allow', m.offered).find((n) => n.round === m.round)
    return base === undefined ? Number.NaN : m[key] - base[key]
  })
}

/** Median over rounds of the per-round ratio of two rows' added latency at one load. */
export function addedRatio(
  r: EnvoyResult,
  a: { row: string; scenario: string },
  b: { row: string; scenario: string },
  offered: number,
  key: 'p50' | 'p99',
): { ratio: number; perRound: number[] } {
  const perRound: number[] = []
  for (const ma of pick(r, a.row, a.scenario, offered)) {
    const mb = pick(r, b.row, b.scenario, offered).find((m) => m.round === ma.round)
    if (mb === undefined) continue
    const [da] = addedBy(r, [ma], key)
    const [db] = addedBy(r, [mb], key)
    if (da !== undefined && db !== undefined && db > 0) perRound.push(da / db)
  }
  return { ratio: median(perRound), perRound }
}

const SCENARIO_NOTE: Record<string, string> = {
  'spiffe-allow': 'GET /api/hello, client SVID under spiffe://example.org/ns/ci: allowed',
  public: 'GET /healthz: a public rule, no credential',
  'runner-cached': 'one runner token (RSA-2048) on every request: decrypted once, then cached',
  'runner-uncached': 'a new runner token on every request: one RSA-2048 decryption each',
}

export function renderEnvoyMarkdown(r: EnvoyResult): string {
  const out: string[] = []
  const pairs: Array<{ row: string; label: string; scenario: string }> = []
  for (const row of r.rows) {
    for (const s of new Set(r.measurements.filter((m) => m.row === row.id).map((m) => m.scenario)))
      pairs.push({ row: row.id, label: row.label, scenario: s })
  }
  const s = r.settings
  out.push(
    `Run ${r.date} → ${r.finished} on ${r.machine.nproc} × ${r.machine.cpu}; load average ${r.machine.loadavgBefore} before, ${r.machine.loadavgAfter} after (the machine is shared). ${r.machine.go}; Envoy 1.40.0, envoy/envoy.yaml through lab/local/overlay.ts.`,
    '',
    `Layout: ${r.layout}. Each run: ${s.warmupS} s warm-up, then ${s.durationS} s measured, ${s.connections} HTTP/2 connections over mTLS (client SVID) to Envoy's shipped listener. spiffe-allow rows: ${s.rounds} interleaved rounds (order rotated each round), medians; other scenarios: one round.`,
    '',
    '### Saturation (closed loop, 64 requests in flight)',
    '',
    '| processor | scenario | requests/s | runs | vs Envoy alone | CPU s / 1,000 req: Envoy | processor | processor ÷ Envoy |',
    '|---|---|---:|---|---:|---:|---:|---:|',
  )
  const baseRate = median(pick(r, 'none', 'spiffe-allow', 'max').map((m) => m.rate))
  for (const p of pairs) {
    const ms = pick(r, p.row, p.scenario, 'max')
    if (ms.length === 0) continue
    const rate = median(ms.map((m) => m.rate))
    const env = median(ms.map((m) => m.envoyCpuPer1000))
    const proc = median(ms.map((m) => m.processorCpuPer1000))
    out.push(
      `| ${p.label} | ${p.scenario} | ${int(rate)}${errorsNote(ms)} | ${ms.map((m) => m.rate).join(', ')} | ${f(rate / baseRate)} | ${f(env, 3)} | ${p.row === 'none' ? '-' : f(proc, 3)} | ${p.row === 'none' ? '-' : f(proc / env)} |`,
    )
  }
  out.push(
    '',
    '### Latency at fixed offered loads (open loop)',
    '',
    'End-to-end at the load generator; "added" = minus Envoy-without-ext_proc in the same round; ext_proc = Envoy\'s own `request_header_latency_us` for the ext_proc call (access log), its share = ext_proc p50 ÷ end-to-end p50. CPU at that load.',
    '',
    '| processor | scenario | offered/s | achieved/s | p50 ms | p99 ms | added p50 | added p99 | ext_proc p50 µs | ext_proc p99 µs | ext_proc share | CPU s/1,000: Envoy | processor |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const rate of s.rates) {
    for (const p of pairs) {
      const ms = pick(r, p.row, p.scenario, rate)
      if (ms.length === 0) continue
      const p50 = median(ms.map((m) => m.p50))
      const ep50 = median(ms.map((m) => m.extProcP50Us ?? Number.NaN))
      const none = p.row === 'none'
      out.push(
        `| ${p.label} | ${p.scenario} | ${rate} | ${int(median(ms.map((m) => m.rate)))}${errorsNote(ms)} | ${f(p50)} | ${f(median(ms.map((m) => m.p99)))} | ${none ? '-' : f(median(addedBy(r, ms, 'p50')))} | ${none ? '-' : f(median(addedBy(r, ms, 'p99')))} | ${int(ep50)} | ${int(median(ms.map((m) => m.extProcP99Us ?? Number.NaN)))} | ${none ? '-' : `${int(ep50 / 10 / p50 || Number.NaN)}%`} | ${f(median(ms.map((m) => m.envoyCpuPer1000)), 3)} | ${none ? '-' : f(median(ms.map((m) => m.processorCpuPer1000)), 3)} |`,
      )
    }
  }
  out.push('', '### Against the targets (issue 22)', '')
  const authz = r.rows.filter((x) => x.id.startsWith('authz-'))
  for (const a of authz) {
    for (const key of ['p50', 'p99'] as const) {
      const t = addedRatio(
        r,
        { row: a.id, scenario: 'spiffe-allow' },
        { row: 'go-spiffe', scenario: 'spiffe-allow' },
        1000,
        key,
      )
      const mine = addedBy(r, pick(r, a.id, 'spiffe-allow', 1000), key)
      const go = addedBy(r, pick(r, 'go-spiffe', 'spiffe-allow', 1000), key)
      // A round where the Go check "added" nothing or less is the machine's noise, not a
      // denominator: the ratio is stated only when every round has one.
      const measurable = go.length > 0 && go.every((x) => x > 0)
      const verdict = measurable
        ? `**${f(t.ratio)}** (target ≤ 1.5; per round ${t.perRound.map((x) => f(x)).join(', ')})`
        : "**not measurable in this run** (target ≤ 1.5; in some round the Go check's figure was zero or negative: this machine's noise is larger than the difference)"
      out.push(
        `- ${a.label}, spiffe-allow at 1,000/s: added ${key} ÷ the Go SPIFFE check's added ${key} = ${verdict}; added ms per round: ${mine.map((x) => f(x)).join(', ')} against ${go.map((x) => f(x)).join(', ')}`,
      )
    }
    for (const sc of ['spiffe-allow', 'runner-cached']) {
      const ms = pick(r, a.id, sc, 1000)
      if (ms.length === 0) continue
      const ratio = median(ms.map((m) => m.processorCpuPer1000 / m.envoyCpuPer1000))
      out.push(
        `- ${a.label}, ${sc} at 1,000/s: processor CPU ÷ Envoy CPU per request = **${f(ratio)}** (target ≤ 1)`,
      )
    }
  }
  const exits = r.measurements.filter((m) => m.processorExited !== undefined)
  if (exits.length > 0) {
    out.push(
      '',
      `**The processor exited during ${exits.length} runs** (each restarted and measured once more; a run it exited in is not counted above):`,
      '',
    )
    for (const m of exits) {
      const tail = m.processorExited ?? ''
      const error =
        /^\w*Error.*$/m.exec(tail)?.[0] ?? /code: '([^']+)'/.exec(tail)?.[1] ?? 'no error line'
      out.push(
        `- ${m.label}, ${m.scenario}, offered ${m.offered}, round ${m.round + 1}: \`${error}\``,
      )
    }
  }
  out.push('', 'Scenarios:', '')
  for (const [k, v] of Object.entries(SCENARIO_NOTE)) out.push(`- ${k}: ${v}`)
  out.push('', 'Load generator command (one of each kind):', '', '```')
  for (const c of r.commands) out.push(c)
  out.push('```', '')
  return out.join('\n')
}

const START = '<!-- bench:envoy:start (generated by make bench from bench/results/envoy.md) -->'
const END = '<!-- bench:envoy:end -->'

/** The Envoy-in-the-loop block (bench/results/envoy.md); false without markers. */
export function spliceDoc(file: string, markdown: string): boolean {
  return spliceBlock(file, markdown, START, END)
}

/** The plot: added p50 (median over rounds) against offered load, one line per processor. */
export function renderEnvoySvg(r: EnvoyResult): string {
  const series = r.rows
    .filter((row) => row.id !== 'none')
    .map((row) => ({
      name: row.label,
      points: r.settings.rates.map((rate) => ({
        x: rate,
        // Log scale: a median at or below zero (noise) is drawn at the floor.
        y: Math.max(0.01, median(addedBy(r, pick(r, row.id, 'spiffe-allow', rate), 'p50')) || 0),
      })),
    }))
  return lineChartSvg(
    'added p50 latency through Envoy vs offered load (spiffe-allow)',
    'offered requests/s',
    'added p50 ms',
    series,
  )
}
