import type { MemorySample, SoakRun } from './soak-run.js'

// Judges a soak run: after a warm-up (caches filling, JIT, pools), resident memory must stop
// growing. Growth is the median of the last three samples minus the median of the first three
// after the warm-up; the least-squares slopes are reported beside it.

export interface SoakVerdict {
  readonly warmupSeconds: number
  readonly boundMB: number
  readonly rssAfterWarmupMB: number
  readonly rssEndMB: number
  readonly rssGrowthMB: number
  readonly rssSlopeMBPerMin: number
  readonly heapAfterWarmupMB: number
  readonly heapEndMB: number
  readonly heapSlopeMBPerMin: number
  /** Lowest heap used (after a GC) in the last third minus the first third after warm-up. */
  readonly heapFloorGrowthMB: number
  readonly rssMaxMB: number
  readonly withinBound: boolean
}

export interface SoakReport {
  readonly startedAt: string
  readonly seconds: number
  readonly offeredRate: number
  readonly keyBits: number
  readonly tokenCacheMaxEntries: number
  readonly totals: { readonly completed: number; readonly errors: number; readonly streams: number }
  readonly classes: SoakRun['classes']
  readonly serverExitCode: number | null
  readonly crashed: boolean
  readonly memory: SoakVerdict
  readonly samples: MemorySample[]
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number)
}

function slopePerMin(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : Math.round((num / den) * 60 * 100) / 100
}

export function judgeMemory(
  samples: MemorySample[],
  warmupSeconds: number,
  boundMB: number,
): SoakVerdict {
  const after = samples.filter((s) => s.t >= warmupSeconds)
  const use = after.length >= 2 ? after : samples
  const rss = (xs: MemorySample[]) => median(xs.map((s) => s.rssMB))
  const heap = (xs: MemorySample[]) => median(xs.map((s) => s.heapUsedMB))
  const first = use.slice(0, 3)
  const last = use.slice(-3)
  const growth = Math.round((rss(last) - rss(first)) * 10) / 10
  const third = Math.max(1, Math.floor(use.length / 3))
  const floor = (xs: MemorySample[]) => Math.min(...xs.map((s) => s.heapUsedMB))
  const floorGrowth = Math.round((floor(use.slice(-third)) - floor(use.slice(0, third))) * 10) / 10
  return {
    warmupSeconds,
    boundMB,
    rssAfterWarmupMB: rss(first),
    rssEndMB: rss(last),
    rssGrowthMB: growth,
    rssSlopeMBPerMin: slopePerMin(use.map((s) => [s.t, s.rssMB])),
    heapAfterWarmupMB: heap(first),
    heapEndMB: heap(last),
    heapSlopeMBPerMin: slopePerMin(use.map((s) => [s.t, s.heapUsedMB])),
    heapFloorGrowthMB: floorGrowth,
    rssMaxMB: Math.max(...samples.map((s) => s.rssMB)),
    withinBound: growth <= boundMB,
  }
}

export function renderSoakMarkdown(r: SoakReport): string {
  const m = r.memory
  const rows = r.classes.map(
    (c) =>
      `| ${c.name} | ${c.expect} | ${Math.round(c.share * 100)}% | ${c.completed} | ${c.errors} | ${c.notSent} | ${c.latencyMs.p50} | ${c.latencyMs.p99} |`,
  )
  const every = Math.max(1, Math.ceil(r.samples.length / 20))
  const series = r.samples
    .filter((_, i) => i % every === 0 || i === r.samples.length - 1)
    .map((s) => `| ${s.t} | ${s.rssMB} | ${s.heapUsedMB} | ${s.procRssMB} | ${s.activeStreams} |`)
  return `# Soak ${r.startedAt}

${r.seconds} s at ${r.offeredRate} streams/s offered (open loop; mixed traffic, real server process, RSA-${r.keyBits} runner key, token cache max ${r.tokenCacheMaxEntries} entries).

**Memory ${m.withinBound ? 'stayed within' : 'EXCEEDED'} the bound:** RSS growth after a ${m.warmupSeconds} s warm-up ${m.rssGrowthMB} MB (bound ${m.boundMB} MB): ${m.rssAfterWarmupMB} -> ${m.rssEndMB} MB, slope ${m.rssSlopeMBPerMin} MB/min; heap used ${m.heapAfterWarmupMB} -> ${m.heapEndMB} MB, slope ${m.heapSlopeMBPerMin} MB/min, floor (after GC) growth ${m.heapFloorGrowthMB} MB; RSS max ${m.rssMaxMB} MB.

**Streams:** ${r.totals.streams} answered as expected or not: ${r.totals.completed} as expected, ${r.totals.errors} errors (wrong answer, failed stream or not sent). Server ${r.crashed ? 'CRASHED' : `exit code ${r.serverExitCode}`}.

| class | expect | share | as expected | errors | of which not sent | p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

| t (s) | RSS MB | heap used MB | VmRSS MB | streams open |
|---|---|---|---|---|
${series.join('\n')}
`
}
