import type { GcWindow } from './gc-trace.js'
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
  /** Slopes (least squares, MiB/min) over the second half of the samples after warm-up. */
  readonly rssSlopeLastHalfMBPerMin: number
  readonly heapSlopeLastHalfMBPerMin: number
}

/** GC pauses and event-loop delay after the warm-up, from the per-window samples. */
export interface PauseVerdict {
  readonly windows: number
  readonly windowSeconds: number
  readonly gc: GcWindow
  /** The per-window event-loop delay p99: median and worst window. */
  readonly loopP99MedianMs: number
  readonly loopP99WorstMs: number
  readonly loopMaxWorstMs: number
  /** Windows whose event-loop delay p99 was 50 ms or more (the issue's target is under 50). */
  readonly windowsP99Over50Ms: number
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
  readonly pauses: PauseVerdict
  /** Every GC pause of the run, warm-up included. */
  readonly gcAll: GcWindow
  /** What else ran on the machine (load average at start and end), for an honest reading. */
  readonly conditions: string
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
    rssSlopeLastHalfMBPerMin: slopePerMin(
      use.slice(Math.floor(use.length / 2)).map((s) => [s.t, s.rssMB]),
    ),
    heapSlopeLastHalfMBPerMin: slopePerMin(
      use.slice(Math.floor(use.length / 2)).map((s) => [s.t, s.heapUsedMB]),
    ),
  }
}

export function judgePauses(
  samples: MemorySample[],
  warmupSeconds: number,
  windowSeconds: number,
): PauseVerdict {
  const after = samples.filter((s) => s.t >= warmupSeconds && Number.isFinite(s.loopP99Ms))
  const gc: GcWindow = { count: 0, major: 0, totalMs: 0, maxMs: 0, majorTotalMs: 0 }
  for (const s of after) {
    gc.count += s.gc.count
    gc.major += s.gc.major
    gc.totalMs += s.gc.totalMs
    gc.majorTotalMs += s.gc.majorTotalMs
    gc.maxMs = Math.max(gc.maxMs, s.gc.maxMs)
  }
  gc.totalMs = Math.round(gc.totalMs)
  gc.majorTotalMs = Math.round(gc.majorTotalMs)
  const p99s = after.map((s) => s.loopP99Ms)
  return {
    windows: after.length,
    windowSeconds,
    gc,
    loopP99MedianMs: median(p99s),
    loopP99WorstMs: Math.max(0, ...p99s),
    loopMaxWorstMs: Math.max(0, ...after.map((s) => s.loopMaxMs)),
    windowsP99Over50Ms: p99s.filter((v) => v >= 50).length,
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
    .map(
      (s) =>
        `| ${s.t} | ${s.rssMB} | ${s.heapUsedMB} | ${s.procRssMB} | ${s.activeStreams} | ${s.openFds} | ${s.loopP99Ms} | ${s.loopMaxMs} | ${s.gc.count} (${s.gc.major}) | ${Math.round(s.gc.totalMs)} | ${s.gc.maxMs} |`,
    )
  const p = r.pauses
  const levels =
    Math.abs(m.rssSlopeLastHalfMBPerMin) < 0.5 && Math.abs(m.heapSlopeLastHalfMBPerMin) < 0.5
      ? 'levels off'
      : 'does NOT level off'
  return `# Soak ${r.startedAt}

${r.seconds} s at ${r.offeredRate} streams/s offered (open loop; mixed traffic, real server process, RSA-${r.keyBits} runner key, token cache max ${r.tokenCacheMaxEntries} entries).

Conditions: ${r.conditions}.

**Memory ${m.withinBound ? 'stayed within' : 'EXCEEDED'} the bound:** RSS growth after a ${m.warmupSeconds} s warm-up ${m.rssGrowthMB} MiB (bound ${m.boundMB} MiB): ${m.rssAfterWarmupMB} -> ${m.rssEndMB} MiB, slope ${m.rssSlopeMBPerMin} MiB/min; heap used ${m.heapAfterWarmupMB} -> ${m.heapEndMB} MiB, slope ${m.heapSlopeMBPerMin} MiB/min, floor (after GC) growth ${m.heapFloorGrowthMB} MiB; RSS max ${m.rssMaxMB} MiB.

**Memory ${levels}:** over the second half after warm-up RSS slope ${m.rssSlopeLastHalfMBPerMin} MiB/min, heap used slope ${m.heapSlopeLastHalfMBPerMin} MiB/min (least squares; "levels off" = both under 0.5 MiB/min).

**Pauses after warm-up** (${p.windows} windows of ${p.windowSeconds} s): GC ${p.gc.count} pauses totalling ${p.gc.totalMs} ms, longest ${p.gc.maxMs} ms; of them ${p.gc.major} major (mark-compact) totalling ${p.gc.majorTotalMs} ms. Event-loop delay p99 per window: median ${p.loopP99MedianMs} ms, worst ${p.loopP99WorstMs} ms (${p.windowsP99Over50Ms} windows at 50 ms or more); worst single delay ${p.loopMaxWorstMs} ms. Whole run, warm-up included: ${r.gcAll.count} GC pauses, ${Math.round(r.gcAll.totalMs)} ms, longest ${r.gcAll.maxMs} ms.

**Streams:** ${r.totals.streams} answered as expected or not: ${r.totals.completed} as expected, ${r.totals.errors} errors (wrong answer, failed stream or not sent). Server ${r.crashed ? 'CRASHED' : `exit code ${r.serverExitCode}`}.

| class | expect | share | as expected | errors | of which not sent | p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

| t (s) | RSS MiB | heap used MiB | VmRSS MiB | streams open | open fds | loop delay p99 ms | loop delay max ms | GC pauses (major) | GC pause ms | longest GC ms |
|---|---|---|---|---|---|---|---|---|---|---|
${series.join('\n')}
`
}
