// Micro benchmark of the per-request matching hot path: buildRequestFacts (method, :authority,
// :path checks) and authorize() on a small policy, for typical requests, in CPU time. With
// `--baseline <dist dir>` it compares another build: each round runs both builds, in
// alternating order, each in a fresh process (in one process the two builds' calls share the
// bench loop's inline caches, which skewed the result by up to 1.8x either way):
//   node dist/bench/facts-micro.js --baseline /tmp/old-build/dist
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'

interface Modules {
  // biome-ignore lint/suspicious/noExplicitAny: two builds' types differ; only calls are made
  buildRequestFacts: (...args: any[]) => any
  // biome-ignore lint/suspicious/noExplicitAny: as above
  authorize: (...args: any[]) => any
  // biome-ignore lint/suspicious/noExplicitAny: as above
  compilePolicy: (...args: any[]) => any
  // biome-ignore lint/suspicious/noExplicitAny: as above
  parseConfig: (...args: any[]) => any
  /** Builds before the condition-kind seam have none (compilePolicy took no kinds). */
  CONDITION_KINDS?: unknown
}

async function load(distRoot: string): Promise<Modules> {
  const at = (p: string) => import(resolve(distRoot, 'src', p))
  return {
    ...(await at('extproc/build-request-facts.js')),
    ...(await at('authz/authorize.js')),
    ...(await at('authz/compile-policy.js')),
    ...(await at('config/load-config.js')),
    ...(await at('config/schema.js')),
  }
}

const POLICY = `policy:
  rules:
    - name: healthz
      methods: [GET]
      path: /healthz
      public: true
    - name: admin
      path: /api/admin/**
      deny: true
    - name: sessions
      path: /api/sessions/{session}/**
      hosts: [api.example.org]
      public: true
    - name: api
      path: /api/**
      public: true
`

const REQUESTS: Array<[string, string, string]> = [
  ['GET', '/healthz', 'api.example.org'],
  ['GET', '/api/sessions/sess-42/logs?follow=1', 'api.example.org:443'],
  ['POST', '/api/things/abc/def/', 'api.example.org'],
  ['GET', '/api/caf%C3%A9/x', 'api.example.org'], // the non-ASCII path
]

function runner(m: Modules) {
  const policy = m.compilePolicy(m.parseConfig(POLICY, 'bench.yaml').policy, m.CONDITION_KINDS)
  const headers = REQUESTS.map(([method, path, authority]) => [
    { name: ':method', value: method },
    { name: ':path', value: path },
    { name: ':authority', value: authority },
    { name: 'x-request-id', value: '0f0e5c1e-7d3c-4a8e-9a43-2b0c7e2f6a11' },
  ])
  const options = { xfcc: false }
  return (iterations: number, which: number): number => {
    let allowed = 0
    // CPU time, not wall time: the machine may be shared, and a descheduled slice is not ours.
    const start = process.cpuUsage()
    for (let i = 0; i < iterations; i++) {
      const built = m.buildRequestFacts(headers[which < 0 ? i & 3 : which], undefined, options)
      if (built.ok && m.authorize(built.facts, policy).allow) allowed++
    }
    const used = process.cpuUsage(start)
    const ns = (used.user + used.system) * 1000
    if (allowed !== iterations) throw new Error(`expected every request allowed, ${allowed}`)
    return ns / iterations
  }
}

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    child: { type: 'string' },
    rounds: { type: 'string', default: '9' },
    iterations: { type: 'string', default: '200000' },
  },
})
const iterations = Number(values.iterations)
const rounds = Number(values.rounds)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const out = (line: string) => process.stdout.write(`${line}\n`)
const CASES: Array<[string, number]> = [
  ['mix of the four below', -1],
  ...REQUESTS.map(([m, p, a], i): [string, number] => [`${m} ${p} (${a})`, i]),
]

/** One process, one build: ns/request per case (median of 5 after a warm-up). */
async function measureHere(distRoot: string): Promise<number[]> {
  const run = runner(await load(distRoot))
  return CASES.map(([, which]) => {
    run(iterations, which)
    return median(Array.from({ length: 5 }, () => run(iterations, which)))
  })
}

function measureInChild(distRoot: string): number[] {
  const args = [import.meta.filename, '--child', distRoot, '--iterations', String(iterations)]
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`child for ${distRoot} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as number[]
}

if (values.child !== undefined) {
  out(JSON.stringify(await measureHere(values.child)))
} else {
  const builds = [resolve(import.meta.dirname, '..'), ...(values.baseline ? [values.baseline] : [])]
  const results = builds.map(() => CASES.map((): number[] => []))
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => i).reverse()
    for (const b of order) {
      for (const [c, ns] of measureInChild(builds[b] as string).entries()) results[b]?.[c]?.push(ns)
    }
  }
  out(`buildRequestFacts + authorize, CPU ns/request: median of ${rounds} processes per build`)
  out(`${'request'.padEnd(62)} ${'this'.padStart(7)}${values.baseline ? ' baseline   ratio' : ''}`)
  CASES.forEach(([label], c) => {
    const cur = median(results[0]?.[c] ?? [])
    let line = `${label.padEnd(62)} ${cur.toFixed(1).padStart(7)}`
    if (values.baseline) {
      const base = median(results[1]?.[c] ?? [])
      line += ` ${base.toFixed(1).padStart(8)} ${(cur / base).toFixed(3).padStart(7)}`
    }
    out(line)
  })
}
