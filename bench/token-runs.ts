import { Samples } from './histogram.js'
import { type LoadResult, runLoad } from './load.js'
import { mainThreadCpuSeconds, treeCpuSeconds } from './proc-cpu.js'
import { startTarget } from './target-process.js'

// Runner-token runs with our generator: h2load sends one frame for every stream, so unique
// tokens come from a pool of pre-made frames (bench/runner-scenarios.ts), taken in order.

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

/** A server for uncached runs, warmed once and then measured in rounds (see startUncached). */
export interface UncachedServer {
  measure(durationS: number): Promise<UncachedRow>
  stop(): Promise<void>
}

/**
 * Closed loop of unique tokens: every stream is a cache miss. 2 x 16 streams in flight keep the
 * decryption queue (256) busy without hitting its bound. Tokens are taken from `frames` in
 * order across the warm-up and every round, so the pool must outlast them all.
 *
 * The server is warmed once, on the uncached path itself, for `warmS`: at ~1,000 decryptions/s
 * (RSA-2048) or ~150/s (RSA-4096) its code runs a thousand or a hundred and fifty times a
 * second, and V8 takes tens of seconds of that to optimize it. Measured same-core (a fresh
 * server beside one warmed for 20 s, both under this load), the warmed one did 1.34x, 1.15x,
 * 1.05x, 1.01x the decryptions per CPU-second in four successive 5 s windows (RSA-2048), and
 * 1.12x, 1.09x, 1.10x, 1.06x after 30 s (RSA-4096). A server in service has long been warm.
 */
export async function startUncached(
  key: string,
  configFile: string,
  frames: readonly Buffer[],
  warmS: number,
  cpus: string,
): Promise<UncachedServer> {
  const t = await startTarget('authz-http2', 'runner', {
    cpus,
    env: { BENCH_CONFIG_FILE: configFile },
  })
  let used = 0
  // Past the pool's end tokens repeat (cache hits): `started` > `pool` in the row says so.
  const nextFrame = () => frames[used++ % frames.length] as Buffer
  const url = `http://127.0.0.1:${t.port}`
  const load = (durationS: number) =>
    runLoad({
      url,
      frame: frames[0] as Buffer,
      nextFrame,
      expect: 'allow',
      connections: CONNS,
      concurrency: 16,
      durationS,
      warmupS: 0,
    })
  try {
    await load(warmS)
  } catch (err) {
    await t.stop()
    throw err
  }
  return {
    async measure(durationS) {
      const cpu0 = treeCpuSeconds(t.pid)
      const main0 = mainThreadCpuSeconds(t.pid)
      const wall0 = performance.now()
      const r = await load(durationS)
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
        started: used,
        pool: frames.length,
        errors: r.errors,
        p50: r.latencyMs.p50,
        p99: r.latencyMs.p99,
      }
    },
    stop: () => t.stop(),
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

/** Flood-off and flood-on segments of a flood run, alternating (see floodRun). */
const FLOOD_SEGMENTS = 3

/**
 * Cached traffic at a fixed offered rate, alone and with a closed-loop flood of unique tokens
 * on the same server (2 x 64 streams: more than the decryption queue admits), in alternating
 * segments: FLOOD_SEGMENTS of each, `durationS` in all for each side, the latencies of each
 * side pooled into one distribution. This host's tail drifts by tens of milliseconds over
 * seconds (a p99 of 4 ms in one 5 s window, 35 ms in the next), so a "before" measured in one
 * stretch and a "during" in the next compared two moments of the host more than two loads;
 * interleaved, both sides sample the same stretch. Each flood segment starts half a second
 * before its cached segment (the queue fills) and drains completely before the next one.
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
    const segmentS = durationS / FLOOD_SEGMENTS
    const before = new Samples()
    const during = new Samples()
    const cached = (samples: Samples, warmupS: number): Promise<LoadResult> =>
      runLoad({
        url,
        frame: cachedFrame,
        expect: 'allow',
        connections: CONNS,
        concurrency: 4096,
        rate: cachedRate,
        durationS: segmentS,
        warmupS,
        samples,
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
    // Tokens in order across segments: none is sent twice (started > pool would say so).
    let used = 0
    const nextFrame = () => floodFrames[used++ % floodFrames.length] as Buffer
    let errorsDuring = 0
    let floodCompleted = 0
    let floodErrors = 0
    let floodSeconds = 0
    for (let i = 0; i < FLOOD_SEGMENTS; i++) {
      await cached(before, 0.2)
      const [on, flood] = await Promise.all([
        cached(during, 0.5),
        runLoad({
          url,
          frame: floodFrames[0] as Buffer,
          nextFrame,
          expect: 'allow',
          connections: CONNS,
          concurrency: 64,
          durationS: segmentS + 0.6,
          warmupS: 0,
        }),
      ])
      errorsDuring += on.errors
      floodCompleted += flood.completed
      floodErrors += flood.errors
      floodSeconds += flood.durationS
    }
    const b = before.summary()
    const d = during.summary()
    return {
      cachedRate,
      p50Before: b.p50,
      p99Before: b.p99,
      p50During: d.p50,
      p99During: d.p99,
      cachedErrorsDuring: errorsDuring,
      floodRate: Math.round(floodCompleted / floodSeconds),
      floodErrors,
      floodStarted: used,
      pool: floodFrames.length,
    }
  } finally {
    await t.stop()
  }
}
