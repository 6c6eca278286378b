import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { RESTART_ONLY } from '../../src/app/config-in-force.js'
import { type RunningServer, startServer } from '../../src/app/server.js'
import { parseConfig } from '../../src/config/load-config.js'
import type { Config } from '../../src/config/schema.js'
import { ProcessStream } from '../../src/extproc/process-stream.js'
import type { SnapshotSource } from '../../src/extproc/snapshot.js'
import { createLogger } from '../../src/shared/logger.js'
import { createRunnerToken } from '../../src/tokens/runner.js'
import { ProcessingRequestType as Req } from '../helpers/reference-codec.js'
import { RUNS } from './budget.js'

// Differential test of hot reload (issue 19): for generated configs A and B, a server started on
// A and reloaded to B must decide every generated request exactly as a fresh server started on B
// decides it (the same answer bytes: allow mutations, deny status, reason and body) — or the
// reload was refused, and then it decides as it did on A. A refusal is expected exactly when a
// fresh server cannot start on B or B changes a restart-only setting; never otherwise.
// In-process servers, keys made once, the file registry source, a fixed seed: fast in `make test`,
// long under `make fuzz` (FUZZ_RUNS).

const dir = mkdtempSync(join(tmpdir(), 'reload-prop-'))
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
const KEYS = { k1: rsa(), k2: rsa() }
const FILES = {
  k1: join(dir, 'k1.pem'),
  k2: join(dir, 'k2.pem'),
  broken: join(dir, 'broken.pem'),
  missing: join(dir, 'missing.pem'),
  liveA: join(dir, 'live-a.txt'),
  liveB: join(dir, 'live-b.txt'),
  liveMissing: join(dir, 'live-missing.txt'),
  // One log hash key for every server: answers carry the keyed session hash (decision metadata),
  // and the reloaded and the fresh server must hash alike to decide alike.
  hashKey: join(dir, 'log-hash.key'),
}
writeFileSync(FILES.hashKey, randomBytes(32), { mode: 0o600 })
writeFileSync(FILES.k1, KEYS.k1.privateKey, { mode: 0o600 })
writeFileSync(FILES.k2, KEYS.k2.privateKey, { mode: 0o600 })
writeFileSync(FILES.broken, '-----BEGIN PRIVATE KEY-----\nMIIE\n', { mode: 0o600 })
writeFileSync(FILES.liveA, 's1\ns2\n')
writeFileSync(FILES.liveB, 's2\ns3\n')

const SESSIONS = ['s1', 's2', 's3'] as const
const TOKENS: Record<string, string> = { garbage: 'Z2FyYmFnZQ==' }
for (const k of ['k1', 'k2'] as const) {
  for (const s of SESSIONS) TOKENS[`${k}:${s}`] = createRunnerToken(KEYS[k].publicKey, s)
}

// --- configs ----------------------------------------------------------------------------------

const PATHS = ['/api/sessions/{session}/**', '/api/**', '/public', '/x/{id}'] as const
const spiffe = fc
  .record(
    {
      ids: fc.subarray(['spiffe://example.org/ns/ci/r1', 'spiffe://example.org/ns/prod/api']),
      prefixes: fc.subarray(['spiffe://example.org/ns/ci', 'spiffe://example.org']),
      trust_domains: fc.subarray(['example.org', 'other.org']),
    },
    { requiredKeys: [] },
  )
  .filter((c) => Object.values(c).some((v) => v.length > 0))
const alternative = fc.record(
  {
    spiffe,
    runner_token: fc.record({ session_param: fc.constant('session') }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
)
const rule = fc.record({
  methods: fc.option(fc.subarray(['GET', 'POST'], { minLength: 1 }), { nil: undefined }),
  path: fc.constantFrom(...PATHS),
  effect: fc.oneof(
    fc.constant({ public: true }),
    fc.constant({ deny: true }),
    fc.array(alternative, { minLength: 1, maxLength: 2 }).map((any_of) => ({ any_of })),
  ),
})
const configInput = fc.record({
  transport: fc.constantFrom('http2', 'http2', 'http2', 'http2', 'grpc-js'),
  xfcc: fc.boolean(),
  spiffeHeader: fc.constantFrom('x-spiffe-id', 'x-peer-id'),
  stripAuthorization: fc.constantFrom(undefined, true, false),
  legacyStrip: fc.constantFrom(undefined, undefined, undefined, true, false),
  maxHeaders: fc.constantFrom(256, 8),
  keys: fc.option(
    fc.array(fc.constantFrom('k1', 'k1', 'k1', 'k2', 'k2', 'k2', 'broken', 'missing'), {
      minLength: 1,
      maxLength: 2,
    }),
    { nil: undefined },
  ),
  registry: fc.option(fc.constantFrom('liveA', 'liveB', 'liveMissing'), { nil: undefined }),
  rules: fc.array(rule, { maxLength: 4 }),
})
type ConfigInput = typeof configInput extends fc.Arbitrary<infer T> ? T : never
const INPUT_KEYS: Record<keyof ConfigInput, true> = {
  transport: true,
  xfcc: true,
  spiffeHeader: true,
  stripAuthorization: true,
  legacyStrip: true,
  maxHeaders: true,
  keys: true,
  registry: true,
  rules: true,
}

/** The config file a generated input stands for (JSON is YAML); undefined if the schema refuses. */
function toConfig(c: ConfigInput): Config | undefined {
  const file = {
    listen: '127.0.0.1:0',
    transport: c.transport,
    identity: { xfcc: { enabled: c.xfcc } },
    headers: {
      spiffe_id: c.spiffeHeader,
      ...(c.stripAuthorization === undefined ? {} : { strip_authorization: c.stripAuthorization }),
    },
    limits: { max_headers: c.maxHeaders },
    logging: { level: 'silent', hash_key_file: FILES.hashKey },
    ...(c.keys === undefined
      ? {}
      : {
          runner_tokens: {
            private_keys: c.keys.map((k) => FILES[k as keyof typeof FILES]),
            cache: { negative_ttl_seconds: 0 },
            ...(c.legacyStrip === undefined ? {} : { strip_authorization: c.legacyStrip }),
          },
        }),
    ...(c.registry === undefined
      ? {}
      : { session_registry: { source: { kind: 'file', path: FILES[c.registry] } } }),
    policy: {
      rules: c.rules.map((r, i) => ({
        name: `r${i}`,
        path: r.path,
        ...(r.methods === undefined ? {} : { methods: r.methods }),
        // session_param must name a parameter of the path (else the schema refuses the rule).
        ...('any_of' in r.effect
          ? {
              any_of: r.effect.any_of.map((alt) =>
                alt.runner_token !== undefined && !r.path.includes('{session}')
                  ? { ...alt, runner_token: {} }
                  : alt,
              ),
            }
          : r.effect),
      })),
    },
  }
  try {
    return parseConfig(JSON.stringify(file), 'generated.yaml')
  } catch {
    return undefined
  }
}

// --- requests ---------------------------------------------------------------------------------

const request = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  path: fc.constantFrom(
    '/api/sessions/s1/logs',
    '/api/sessions/s2/logs',
    '/api/sessions/s3/x',
    '/api/other',
    '/public',
    '/x/1',
    '/nothing',
  ),
  peer: fc.constantFrom(
    undefined,
    'spiffe://example.org/ns/ci/r1',
    'spiffe://example.org/ns/prod/api',
    'spiffe://other.org/x',
    'spiffe://example.org',
  ),
  token: fc.constantFrom(undefined, ...Object.keys(TOKENS)),
  forged: fc.boolean(),
})
type Request = typeof request extends fc.Arbitrary<infer T> ? T : never

function encode(r: Request): Uint8Array {
  const headers: Array<[string, string]> = [
    [':method', r.method],
    [':path', r.path],
    [':authority', 'api.example.org'],
  ]
  if (r.token !== undefined) headers.push(['authorization', `Bearer ${TOKENS[r.token]}`])
  // The peer both ways: which one counts depends on identity.xfcc.
  if (r.peer !== undefined) {
    headers.push(['x-forwarded-client-cert', `By=spiffe://example.org/envoy;URI=${r.peer}`])
  }
  if (r.forged) headers.push(['x_spiffe_id', 'spiffe://example.org/ns/prod/api'])
  return Req.encode(
    Req.fromObject({
      request_headers: {
        headers: { headers: headers.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) },
        end_of_stream: true,
      },
      attributes: [
        {
          key: 'envoy.filters.http.ext_proc',
          value: {
            fields:
              r.peer === undefined
                ? []
                : [{ key: 'connection.uri_san_peer_certificate', value: { string_value: r.peer } }],
          },
        },
      ],
    }),
  ).finish()
}

/** The answer the server's Process stream gives to one request (hex of the response bytes). */
function decide(snapshots: SnapshotSource, message: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const stream = new ProcessStream(
      snapshots,
      { send: (b) => resolve(Buffer.from(b).toString('hex')), end: () => {} },
      { onDecision() {} },
    )
    stream.push(message)
    stream.endOfInput()
  })
}

async function decideAll(server: RunningServer, requests: readonly Uint8Array[]) {
  const out: string[] = []
  for (const m of requests) out.push(await decide(server.snapshots, m))
  return out
}

async function start(config: Config): Promise<RunningServer | undefined> {
  try {
    return await startServer({ config, configSource: 'generated.yaml', logger })
  } catch {
    return undefined
  }
}

const logger = createLogger('silent')

describe('hot reload A -> B decides as a fresh server on B, or is refused and decides as on A', () => {
  // Why reloads were refused: B failed the schema, B's keys or registry did not load, or B
  // changed a restart-only setting.
  const stats = { runs: 0, applied: 0, refused: 0, schema: 0, start: 0, restartOnly: 0 }

  test('differential: reloaded server vs fresh server', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        configInput,
        // B is unrelated to A, or A with some settings of another generated config (the edits
        // an operator makes: keys added or rotated, a registry added, rules changed).
        fc.oneof(
          configInput.map((other) => ({ other, edit: undefined })),
          fc.record({
            other: configInput,
            edit: fc.subarray(Object.keys(INPUT_KEYS) as (keyof ConfigInput)[], {
              minLength: 1,
            }),
          }),
        ),
        fc.array(request, { minLength: 1, maxLength: 6 }),
        async (inputA, { other, edit }, reqs) => {
          const a = toConfig(inputA)
          fc.pre(a !== undefined)
          const inputB: ConfigInput =
            edit === undefined
              ? other
              : { ...inputA, ...Object.fromEntries(edit.map((k) => [k, other[k]])) }
          const b = toConfig(inputB)
          const server = await start(a as Config)
          fc.pre(server !== undefined)
          const reloaded = server as RunningServer
          const fresh = b === undefined ? undefined : await start(b)
          try {
            const messages = reqs.map(encode)
            const onA = await decideAll(reloaded, messages)
            let applied = true
            try {
              if (b === undefined) throw new Error('schema refused B')
              await reloaded.applyConfig(b)
            } catch {
              applied = false
            }
            stats.runs++
            const after = await decideAll(reloaded, messages)
            if (applied) {
              stats.applied++
              assert.ok(fresh !== undefined, 'a reload was applied that a fresh server refuses')
              assert.deepEqual(after, await decideAll(fresh, messages))
            } else {
              stats.refused++
              stats[b === undefined ? 'schema' : fresh === undefined ? 'start' : 'restartOnly']++
              const restartOnly = RESTART_ONLY.some(
                (k) => JSON.stringify(a?.[k]) !== JSON.stringify(b?.[k]),
              )
              assert.ok(
                fresh === undefined || restartOnly,
                'a reload was refused that a fresh server accepts',
              )
              assert.deepEqual(after, onA)
            }
          } finally {
            await reloaded.close(0)
            await fresh?.close(0)
          }
        },
      ),
      { numRuns: Math.max(30, Math.floor(RUNS / 3)), seed: 19, endOnFailure: true },
    )
    t.diagnostic(`reloads: ${JSON.stringify(stats)}`)
    // The generator must reach both outcomes and every kind of refusal.
    assert.ok(
      Object.values(stats).every((n) => n > 0),
      JSON.stringify(stats),
    )
  })
})
