import { fileURLToPath } from 'node:url'
import { ProcessingRequestType } from '../test/helpers/reference-codec.js'

// The per-request cost of the answer with decision metadata on (with and without request_id),
// off, and (with --baseline DIR, a dist/ of the commit before it) without the feature, in one
// process, rounds interleaved (bench/ab.ts measures the whole server the same way):
//   node dist/bench/answer-bench.js [--baseline /path/to/old/dist] [--rounds 15] [--ops 50000]
// Two paths: a whole ProcessStream (decode, authorize, answer) for a SPIFFE allow with a fresh
// x-request-id per request (what Envoy sends), and Responder.allow alone for a runner-session
// allow (the answer cache's hit path, where metadata adds the most per request).

const DIST = fileURLToPath(new URL('..', import.meta.url))

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

const ROUNDS = Number(arg('rounds', '15'))
const OPS = Number(arg('ops', '50000'))
const PEER = 'spiffe://example.org/ns/ci/sa/runner'
const REQUEST_IDS = Array.from(
  { length: 1024 },
  (_, i) => `9d9f95de-d597-440f-80ee-${String(i).padStart(12, '0')}`,
)

const CONFIG = {
  policy: {
    rules: [{ name: 'api', path: '/api/**', any_of: [{ spiffe: { ids: [PEER] } }] }],
  },
}

/** ProcessingRequest messages as Envoy sends them, one per request id. */
const FRAMES = REQUEST_IDS.map((id) =>
  ProcessingRequestType.encode(
    ProcessingRequestType.fromObject({
      request_headers: {
        headers: {
          headers: [
            [':method', 'GET'],
            [':path', '/api/sessions/s-1/logs'],
            [':authority', 'api.example.org'],
            [':scheme', 'https'],
            ['user-agent', 'runner/1.0'],
            ['accept', '*/*'],
            ['x-forwarded-proto', 'https'],
            ['x-request-id', id],
          ].map(([key, v]) => ({ key, raw_value: Buffer.from(v as string) })),
        },
        end_of_stream: true,
      },
      attributes: [
        {
          key: 'envoy.filters.http.ext_proc',
          value: {
            fields: [
              { key: 'connection.uri_san_peer_certificate', value: { string_value: PEER } },
              { key: 'request.id', value: { string_value: id } },
            ],
          },
        },
      ],
    }),
  ).finish(),
)

interface Variant {
  readonly name: string
  /** One request through the whole stream. */
  stream(i: number): void
  /** One runner-session allow answer. */
  respond(i: number): void
}

interface Modules {
  ProcessStream: new (
    s: { current(): unknown },
    sink: { send(b: Buffer): void; end(): void },
    o: { onDecision(): void },
  ) => { push(m: Uint8Array): void }
  buildSnapshot(config: unknown): { responder: { allow(d: unknown, f?: unknown): Buffer } }
  ConfigSchema: { parse(v: unknown): unknown }
}

async function load(dist: string): Promise<Modules> {
  const [ps, bs, schema] = await Promise.all([
    import(`${dist}/src/extproc/process-stream.js`),
    import(`${dist}/src/app/build-snapshot.js`),
    import(`${dist}/src/config/schema.js`),
  ])
  return {
    ProcessStream: ps.ProcessStream,
    buildSnapshot: bs.buildSnapshot,
    ConfigSchema: schema.ConfigSchema,
  }
}

let sunk = 0
const SINK = {
  send(b: Buffer) {
    sunk += b.length
  },
  end() {},
}
const OBSERVER = { onDecision() {} }

function variant(name: string, m: Modules, extra: Record<string, unknown>): Variant {
  const snapshot = m.buildSnapshot(m.ConfigSchema.parse({ ...CONFIG, ...extra }))
  const source = { current: () => snapshot }
  const facts = REQUEST_IDS.map((requestId) => ({
    method: 'GET',
    path: '/api/sessions/s-1/logs',
    segments: ['api', 'sessions', 's-1', 'logs'],
    host: 'api.example.org',
    peer: { uri: PEER, trustDomain: 'example.org', path: '/ns/ci/sa/runner' },
    bearer: undefined,
    requestId,
    grpc: false,
  }))
  const decision = {
    allow: true,
    rule: 'runner-session',
    reason: 'allowed',
    spiffeId: PEER,
    sessionId: 's-1',
  }
  return {
    name,
    stream(i) {
      new m.ProcessStream(source, SINK, OBSERVER).push(FRAMES[i & 1023] as Uint8Array)
    },
    respond(i) {
      sunk += snapshot.responder.allow(decision, facts[i & 1023]).length
    },
  }
}

function time(fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < OPS; i++) fn(i)
  return Number(process.hrtime.bigint() - t0) / OPS
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

async function main(): Promise<void> {
  const current = await load(DIST.replace(/\/$/, ''))
  const variants: Variant[] = []
  const baseline = arg('baseline')
  if (baseline !== undefined)
    variants.push(variant('baseline (before the feature)', await load(baseline), {}))
  variants.push(variant('metadata off', current, { decision_metadata: { enabled: false } }))
  variants.push(variant('metadata on', current, { decision_metadata: { enabled: true } }))
  variants.push(
    variant('metadata on, request_id', current, {
      decision_metadata: { enabled: true, request_id: true },
    }),
  )
  const results = new Map(
    variants.map((v) => [v.name, { stream: [] as number[], respond: [] as number[] }]),
  )
  for (const v of variants) {
    time(v.stream) // warm-up
    time(v.respond)
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const res = results.get(v.name)
      res?.stream.push(time(v.stream))
      res?.respond.push(time(v.respond))
    }
  }
  const first = results.get(variants[0]?.name ?? '')
  const base = { stream: median(first?.stream ?? []), respond: median(first?.respond ?? []) }
  process.stdout.write(
    `node ${process.version}, ${ROUNDS} rounds x ${OPS} ops, medians (ratio to ${variants[0]?.name})\n`,
  )
  process.stdout.write(
    'variant | whole stream, SPIFFE allow (ns/op) | Responder.allow, session (ns/op)\n',
  )
  for (const v of variants) {
    const res = results.get(v.name)
    const s = median(res?.stream ?? [])
    const a = median(res?.respond ?? [])
    process.stdout.write(
      `${v.name} | ${s.toFixed(0)} (${(s / base.stream).toFixed(3)}x) | ${a.toFixed(0)} (${(a / base.respond).toFixed(3)}x)\n`,
    )
  }
  if (sunk === 0) throw new Error('nothing answered')
}

await main()
