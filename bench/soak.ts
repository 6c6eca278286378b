import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { judgeMemory, judgePauses, renderSoakMarkdown, type SoakReport } from './soak-report.js'
import { runSoak } from './soak-run.js'

// `make soak`: the real server at a steady mixed load for SOAK_SECONDS; memory and error counts
// over time into bench/results/soak-<time>.{json,md}. Exit 1 if memory grew past the bound, any
// stream failed, or the server crashed. Not a speed test: the rate is well below capacity.
const env = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: expected a positive number`)
  return v
}
const seconds = env('SOAK_SECONDS', 600)
const rate = env('SOAK_RATE', 500)
const sampleSeconds = env(
  'SOAK_SAMPLE_SECONDS',
  Math.max(1, Math.min(10, Math.round(seconds / 60))),
)
const warmupSeconds = env('SOAK_WARMUP_SECONDS', Math.max(1, Math.round(seconds * 0.25)))
const boundMB = env('SOAK_RSS_BOUND_MB', 30)
const keyBits = env('SOAK_KEY_BITS', 4096)
const out = process.env.SOAK_OUT ?? 'bench/results'
const log = (s: string) => process.stderr.write(`${s}\n`)

const startedAt = new Date().toISOString()
const load = () =>
  loadavg()
    .map((v) => v.toFixed(1))
    .join(' / ')
const loadAtStart = load()
// SOAK_HEAPSNAPSHOT_SIGNAL=SIGUSR2: the server writes a heap snapshot on that signal, taken at
// the end of warm-up and at the end of the run (files in the server's working directory).
const snapshotSignal = process.env.SOAK_HEAPSNAPSHOT_SIGNAL as NodeJS.Signals | undefined
let serverPid: number | undefined
log(
  `soak: ${seconds} s at ${rate}/s, sampling every ${sampleSeconds} s, warm-up ${warmupSeconds} s`,
)
let lastPrint = 0
const run = await runSoak({
  seconds,
  rate,
  sampleSeconds,
  keyBits,
  ...(snapshotSignal === undefined
    ? {}
    : { nodeArgs: [`--heapsnapshot-signal=${snapshotSignal}`] }),
  onStart: (pid) => {
    serverPid = pid
  },
  onSample(s, completed, errors) {
    if (snapshotSignal !== undefined && serverPid !== undefined) {
      const atWarmup = s.t >= warmupSeconds && s.t - sampleSeconds < warmupSeconds
      const atEnd = s.t >= seconds - sampleSeconds && s.t < seconds
      if (atWarmup || atEnd) process.kill(serverPid, snapshotSignal)
    }
    if (s.t - lastPrint < 30 && s.t < seconds) return
    lastPrint = s.t
    log(
      `soak: t=${s.t}s rss=${s.rssMB}MiB heap=${s.heapUsedMB}MiB loop p99=${s.loopP99Ms}ms ` +
        `gc=${s.gc.count}/${Math.round(s.gc.totalMs)}ms max ${s.gc.maxMs}ms ok=${completed} errors=${errors}`,
    )
  },
})
const completed = run.classes.reduce((a, c) => a + c.completed, 0)
const errors = run.classes.reduce((a, c) => a + c.errors, 0)
const report: SoakReport = {
  startedAt,
  seconds,
  offeredRate: rate,
  keyBits,
  tokenCacheMaxEntries: run.cacheMaxEntries,
  totals: { completed, errors, streams: completed + errors },
  classes: run.classes,
  serverExitCode: run.exitCode,
  crashed: run.crashedDuringLoad || run.exitCode !== 0,
  memory: judgeMemory(run.samples, warmupSeconds, boundMB),
  pauses: judgePauses(run.samples, warmupSeconds, sampleSeconds),
  gcAll: run.gcAll,
  conditions: `load average (1/5/15 min) ${loadAtStart} at start, ${load()} at end on ${cpus().length} cores`,
  samples: run.samples,
}
mkdirSync(out, { recursive: true })
const base = join(out, `soak-${startedAt.replace(/[:.]/g, '').replace('T', '-').slice(0, 17)}`)
writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`)
writeFileSync(`${base}.md`, renderSoakMarkdown(report))
log(`soak: ${base}.json, ${base}.md`)
const m = report.memory
log(
  `soak: RSS growth ${m.rssGrowthMB} MiB (bound ${m.boundMB}), slope RSS ${m.rssSlopeMBPerMin} / heap ${m.heapSlopeMBPerMin} MiB/min ` +
    `(second half ${m.rssSlopeLastHalfMBPerMin} / ${m.heapSlopeLastHalfMBPerMin}), GC ${report.pauses.gc.count} pauses ${report.pauses.gc.totalMs} ms max ${report.pauses.gc.maxMs} ms, ` +
    `loop p99 median ${report.pauses.loopP99MedianMs} ms worst ${report.pauses.loopP99WorstMs} ms, ` +
    `${completed} ok, ${errors} errors, server ${report.crashed ? 'CRASHED' : 'exit 0'}`,
)
process.exitCode = m.withinBound && errors === 0 && !report.crashed ? 0 : 1
