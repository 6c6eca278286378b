import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { grpcFrame } from './frame.js'
import { runH2load } from './h2load.js'
import { cycle, runLoad } from './load.js'
import { median } from './openssl-speed.js'
import { treeCpuSeconds } from './proc-cpu.js'
import {
  cachedTokenFrame,
  makeRunnerKeys,
  uniqueTokenFrames,
  writeRunnerConfig,
} from './runner-scenarios.js'
import { scenarioByName } from './scenarios.js'
import { type RunningTarget, startTarget } from './target-process.js'

// Same-core A/B of two builds: `node dist/bench/ab.js --b ../old-checkout [--a .]`, for a
// scenario of bench/scenarios.ts, runner-cached or runner-uncached.
//
// On a shared VM one 5 s run of the same server swings by ±20% from the next, so two builds run
// one after the other cannot be told apart by less than that. Here both servers run at once,
// pinned to the same CPU, each under its own h2load (on another CPU): whatever the host does to
// that CPU it does to both. Each round divides B's streams per CPU-second by A's; rounds
// alternate which starts first. Use it to compare builds of the same server, not a server
// with the no-op floor: sharing a core costs the one with the larger working set more.
const { values } = parseArgs({
  options: {
    a: { type: 'string', default: '.' },
    b: { type: 'string' },
    scenario: { type: 'string', default: 'spiffe-allow' },
    'sample-allow': { type: 'string' },
    // B's environment only, e.g. `--b . --b-env BENCH_LOG_LEVEL=warn`: what something costs
    // within one build (here the decision log).
    'b-env': { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '6' },
    duration: { type: 'string', default: '6' },
    'server-cpu': { type: 'string', default: '0' },
    'client-cpu': { type: 'string', default: '1' },
  },
})
if (values.b === undefined) {
  process.stderr.write('usage: node dist/bench/ab.js --b <checkout with dist/> [--a .]\n')
  process.exit(2)
}
const builds = [values.a, values.b].map((dir) => resolve(dir, 'dist/bench/target.js'))
// runner-cached: one raw RSA-OAEP token repeated (keys and config made now), as in `make bench`.
// runner-uncached: a unique RSA-2048 token per stream from a pool, sent by our generator (h2load
// repeats one frame) in a closed loop of 2 x 16 streams, as `make bench` does.
const uncached = values.scenario === 'runner-uncached'
const runner = values.scenario.startsWith('runner-') ? makeRunnerKeys() : undefined
const frame =
  runner === undefined
    ? grpcFrame(scenarioByName(values.scenario).request)
    : cachedTokenFrame(runner.publicKey[2048])
// Both servers share a core, so each decrypts ~400/s: 4,000 tokens last 10 s, warm-up included.
const pool =
  uncached && runner !== undefined ? uniqueTokenFrames(runner.publicKey[2048], 4000, 'u') : []
const env: NodeJS.ProcessEnv = {
  ...(runner === undefined ? {} : { BENCH_CONFIG_FILE: writeRunnerConfig(runner, 2048) }),
  ...(values['sample-allow'] === undefined ? {} : { BENCH_SAMPLE_ALLOW: values['sample-allow'] }),
}
const bEnv: NodeJS.ProcessEnv = Object.fromEntries(
  values['b-env'].map((kv) => {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw new Error(`--b-env wants KEY=VALUE, got ${kv}`)
    return [kv.slice(0, eq), kv.slice(eq + 1)]
  }),
)
const durationS = Number(values.duration)
const ratios: number[] = []

for (let round = 0; round < Number(values.rounds); round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0]
  const targets: RunningTarget[] = []
  for (const i of order) {
    targets[i] = await startTarget('authz-http2', uncached ? 'runner' : values.scenario, {
      cpus: values['server-cpu'],
      env: i === 1 ? { ...env, ...bEnv } : env,
      script: builds[i],
    })
  }
  const running = targets as [RunningTarget, RunningTarget]
  const cpu0 = running.map((t) => treeCpuSeconds(t.pid))
  const started = performance.now()
  const results = await Promise.all(
    running.map((t) =>
      uncached
        ? uncachedLoad(t.port, durationS)
        : runH2load({
            port: t.port,
            frame,
            connections: 2,
            concurrency: 64,
            durationS,
            warmupS: 1,
            cpus: values['client-cpu'],
          }),
    ),
  )
  const wall = (performance.now() - started) / 1000
  const perCore = results.map((r, i) => {
    const cores = (treeCpuSeconds(running[i]?.pid ?? -1) - (cpu0[i] ?? 0)) / wall
    return r.failed > 0 ? Number.NaN : r.rate / cores
  })
  await Promise.all(running.map((t) => t.stop()))
  const ratio = (perCore[1] ?? Number.NaN) / (perCore[0] ?? Number.NaN)
  ratios.push(ratio)
  process.stdout.write(
    `round ${round + 1}: A ${Math.round(perCore[0] ?? 0)}, B ${Math.round(perCore[1] ?? 0)} ` +
      `streams per CPU-second; B/A ${ratio.toFixed(3)}\n`,
  )
}
process.stdout.write(
  `${values.scenario}${values['sample-allow'] === undefined ? '' : ` (sample_allow ${values['sample-allow']})`}: ` +
    `B/A median ${median(ratios).toFixed(3)} over ${ratios.length} rounds ` +
    `(${ratios.map((r) => r.toFixed(2)).join(', ')})\n`,
)

/** Closed loop of unique tokens (every stream a decryption): rate and failures, as h2load's. */
async function uncachedLoad(
  port: number,
  seconds: number,
): Promise<{ rate: number; failed: number }> {
  const r = await runLoad({
    url: `http://127.0.0.1:${port}`,
    frame: pool[0] as Buffer,
    nextFrame: cycle(pool),
    expect: 'allow',
    connections: 2,
    concurrency: 16,
    durationS: seconds,
    warmupS: 1,
  })
  // A wrapped pool would send tokens already cached: not an uncached run any more.
  return { rate: r.rate, failed: r.errors + (r.started > pool.length ? 1 : 0) }
}
