import { cycle, type LoadResult, runLoad } from './load.js'
import { mainThreadCpuSeconds, treeCpuSeconds } from './proc-cpu.js'
import { startTarget } from './target-process.js'

// Runner-token runs with our generator: h2load sends one frame for every stream, so unique
// tokens come from a pool of pre-made frames (bench/runner-scenarios.ts) cycled by bench/load.ts.

const CONNS = 2

export interface UncachedRow {
  key: string
  rate: number
  /** Decryptions per CPU-second of the server process (all its threads). */
  perCpuSecond: number
  /** Server CPU-seconds per wall second: below 1 when the shared core ran something else. */
  cpuShare: number
  /** Event-loop CPU per request (ms): HTTP/2, decision, log, and handing work to the pool. */
  mainMsPerRequest: number
  /** CPU per decryption (ms) of every other thread (the libuv pool doing RSA, V8 helpers). */
  otherMsPerRequest: number
  completed: number
  started: number
  pool: number
  errors: number
  p50: number
  p99: number
}

/**
 * Closed loop of unique tokens: every stream is a cache miss (the pool is larger than what the
 * run sends; `started` > `pool` would mean a wrap, and is reported). 2 x 16 streams in flight
 * keep the decryption queue (256) busy without hitting its bound.
 */
export async function uncachedRun(
  key: string,
  configFile: string,
  frames: readonly Buffer[],
  durationS: number,
  cpus: string,
): Promise<UncachedRow> {
  const t = await startTarget('authz-http2', 'runner', {
    cpus,
    env: { BENCH_CONFIG_FILE: configFile },
  })
  try {
    const url = `http://127.0.0.1:${t.port}`
    // Warm the JIT on the uncached path itself: at ~1,000 decryptions/s its functions run a
    // thousand times a second, and V8 takes seconds to optimize them (measured: the first 2 s
    // cost 5-10% more event-loop CPU per request than the next ones). The last third of the
    // pool is for warming, 3 s at the measured concurrency; the run never reaches it.
    const warmCount = Math.floor(frames.length / 3)
    const warm = frames.slice(-warmCount)
    await runLoad({
      url,
      frame: warm[0] as Buffer,
      nextFrame: cycle(warm),
      expect: 'allow',
      connections: CONNS,
      concurrency: 16,
      durationS: 3,
      warmupS: 0,
    })
    const measured = frames.slice(0, -warmCount)
    const cpu0 = treeCpuSeconds(t.pid)
    const main0 = mainThreadCpuSeconds(t.pid)
    const wall0 = performance.now()
    const r = await runLoad({
      url,
      frame: measured[0] as Buffer,
      nextFrame: cycle(measured),
      expect: 'allow',
      connections: CONNS,
      concurrency: 16,
      durationS,
      warmupS: 0,
    })
    const cpu = treeCpuSeconds(t.pid) - cpu0
    const main = mainThreadCpuSeconds(t.pid) - main0
    const wall = (performance.now() - wall0) / 1000
    const perRequestMs = (s: number) => Math.round((s * 1e6) / Math.max(1, r.completed)) / 1000
    return {
      mainMsPerRequest: perRequestMs(main),
      otherMsPerRequest: perRequestMs(cpu - main),
      key,
      rate: r.rate,
      perCpuSecond: cpu > 0 ? Math.round(r.completed / cpu) : 0,
      cpuShare: Math.round((cpu / wall) * 100) / 100,
      completed: r.completed,
      started: r.started,
      pool: measured.length,
      errors: r.errors,
      p50: r.latencyMs.p50,
      p99: r.latencyMs.p99,
    }
  } finally {
    await t.stop()
  }
}

export interface FloodRow {
  cachedRate: number
  p99Before: number
  p99During: number
  p50Before: number
  p50During: number
  cachedErrorsDuring: number
  floodRate: number
  /** Flood streams refused or failed (503 overloaded once 256 decryptions are pending). */
  floodErrors: number
  floodStarted: number
  pool: number
}

/**
 * Cached traffic at a fixed offered rate, first alone, then with a closed-loop flood of unique
 * tokens on the same server (2 x 64 streams: more than the decryption queue admits).
 */
export async function floodRun(
  configFile: string,
  cachedFrame: Buffer,
  floodFrames: readonly Buffer[],
  cachedRate: number,
  durationS: number,
  cpus: string,
  env: NodeJS.ProcessEnv = {},
): Promise<FloodRow> {
  const t = await startTarget('authz-http2', 'runner', {
    cpus,
    env: { BENCH_CONFIG_FILE: configFile, ...env },
  })
  try {
    const url = `http://127.0.0.1:${t.port}`
    const cached = (warmupS: number): Promise<LoadResult> =>
      runLoad({
        url,
        frame: cachedFrame,
        expect: 'allow',
        connections: CONNS,
        concurrency: 4096,
        rate: cachedRate,
        durationS,
        warmupS,
      })
    await runLoad({
      url,
      frame: cachedFrame,
      expect: 'allow',
      connections: CONNS,
      concurrency: 4,
      durationS: 2,
      warmupS: 0,
    })
    const before = await cached(1)
    const [during, flood] = await Promise.all([
      cached(1),
      runLoad({
        url,
        frame: floodFrames[0] as Buffer,
        nextFrame: cycle(floodFrames),
        expect: 'allow',
        connections: CONNS,
        concurrency: 64,
        durationS: durationS + 1,
        warmupS: 0,
      }),
    ])
    return {
      cachedRate,
      p50Before: before.latencyMs.p50,
      p99Before: before.latencyMs.p99,
      p50During: during.latencyMs.p50,
      p99During: during.latencyMs.p99,
      cachedErrorsDuring: during.errors,
      floodRate: flood.rate,
      floodErrors: flood.errors,
      floodStarted: flood.started,
      pool: floodFrames.length,
    }
  } finally {
    await t.stop()
  }
}
