import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { judgeMemory, renderSoakMarkdown, type SoakReport } from './soak-report.js'
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
log(
  `soak: ${seconds} s at ${rate}/s, sampling every ${sampleSeconds} s, warm-up ${warmupSeconds} s`,
)
let lastPrint = 0
const run = await runSoak({
  seconds,
  rate,
  sampleSeconds,
  keyBits,
  onSample(s, completed, errors) {
    if (s.t - lastPrint < 30 && s.t < seconds) return
    lastPrint = s.t
    log(`soak: t=${s.t}s rss=${s.rssMB}MB heap=${s.heapUsedMB}MB ok=${completed} errors=${errors}`)
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
  samples: run.samples,
}
mkdirSync(out, { recursive: true })
const base = join(out, `soak-${startedAt.replace(/[:.]/g, '').replace('T', '-').slice(0, 17)}`)
writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`)
writeFileSync(`${base}.md`, renderSoakMarkdown(report))
log(`soak: ${base}.json, ${base}.md`)
const m = report.memory
log(
  `soak: RSS growth ${m.rssGrowthMB} MB (bound ${m.boundMB}), heap slope ${m.heapSlopeMBPerMin} MB/min, ` +
    `${completed} ok, ${errors} errors, server ${report.crashed ? 'CRASHED' : 'exit 0'}`,
)
process.exitCode = m.withinBound && errors === 0 && !report.crashed ? 0 : 1
