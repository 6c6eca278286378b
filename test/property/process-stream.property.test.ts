import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { buildSnapshot } from '../../src/app/build-snapshot.js'
import { parseConfig } from '../../src/config/load-config.js'
import { ProcessStream } from '../../src/extproc/process-stream.js'
import { SnapshotHolder } from '../../src/extproc/snapshot.js'
import { ProcessingRequestType, ProcessingResponseType } from '../helpers/reference-codec.js'
import { RUNS } from './budget.js'

// Whole ProcessingRequests, encoded by protobufjs (the reference codec), pushed through the real
// ProcessStream. Invariants: nothing throws out of a stream; nothing is allowed that the policy
// does not allow (checked against an independent oracle); every deny carries an explicit status.
const Req = ProcessingRequestType
const Res = ProcessingResponseType

const config = parseConfig(
  `
limits: { max_headers: 64, max_header_bytes: 8192 }
identity: { xfcc: { enabled: XFCC } }
policy:
  rules:
    - name: public
      methods: [GET]
      path: /public
      public: true
    - name: api
      path: /api/**
      any_of:
        - spiffe: { trust_domains: [example.org] }
`.replace('XFCC', 'false'),
  'prop.yaml',
)
const snapshots = new SnapshotHolder(buildSnapshot(config))

/** Independent, deliberately simple statement of what the policy may allow. */
function oracleMayAllow(method: string, path: string, peer: string | undefined): boolean {
  const p = path.split('?')[0]?.split('#')[0] ?? ''
  if (method === 'GET' && p === '/public') return true
  const apiPath = p === '/api' || p.startsWith('/api/')
  const peerOk =
    peer !== undefined &&
    peer.length <= 2048 &&
    /^spiffe:\/\/example\.org(\/[A-Za-z0-9._-]+)*$/.test(peer) &&
    !peer
      .split('/')
      .slice(3)
      .some((s) => s === '.' || s === '..')
  return apiPath && peerOk && !/\/\.\.?(\/|$)|\/\/|%2f|%2e|%5c|\\/i.test(p)
}

const headerName = fc.oneof(
  fc.constantFrom(
    ':method',
    ':path',
    ':authority',
    ':scheme',
    'authorization',
    'x-spiffe-id',
    'x-forwarded-client-cert',
    ':Path',
    'X-Request-Id',
    'content-type',
  ),
  fc.string({ maxLength: 20 }),
)
const headerValue = fc.oneof(
  fc.constantFrom(
    'GET',
    'POST',
    '/public',
    '/api/x',
    '/api/../admin',
    '/api//x',
    '/admin',
    '/api/%2e%2e/x',
    'application/grpc',
  ),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
)
const peer = fc.option(
  fc.oneof(
    fc.constantFrom(
      'spiffe://example.org/ns/a',
      'spiffe://example.org',
      'spiffe://evil.org/x',
      'spiffe://Example.org/x',
      'spiffe://example.org/../x',
      'spiffe://example.org.evil/x',
    ),
    fc.string({ maxLength: 60 }),
  ),
  { nil: undefined },
)
const headersMsg = fc.record({
  method: fc.constantFrom('GET', 'POST', 'get', 'DELETE'),
  path: fc.oneof(
    headerValue,
    fc.constantFrom('/public', '/public?x=1', '/api', '/api/', '/api/a/b'),
  ),
  extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
  omit: fc.subarray([':method', ':path']),
  legacy: fc.boolean(),
  peer,
  bigAttrs: fc.nat({ max: 300 }),
})
type HeadersMsg = typeof headersMsg extends fc.Arbitrary<infer T> ? T : never

function headerPairs(h: HeadersMsg): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  if (!h.omit.includes(':method')) pairs.push([':method', h.method])
  if (!h.omit.includes(':path')) pairs.push([':path', h.path])
  pairs.push(...h.extra)
  return pairs
}

/** The value of a header sent exactly once, as the oracle reads it. */
function single(pairs: Array<[string, string]>, name: string): string | undefined {
  const values = pairs.filter(([k]) => k === name).map(([, v]) => v)
  return values.length === 1 ? values[0] : undefined
}

function encodeHeaders(h: HeadersMsg): Uint8Array {
  const pairs = headerPairs(h)
  const fields = [
    ...(h.peer === undefined
      ? []
      : [{ key: 'connection.uri_san_peer_certificate', value: { string_value: h.peer } }]),
    ...Array.from({ length: h.bigAttrs }, (_, i) => ({
      key: `x.attr${i}`,
      value: { string_value: 'v'.repeat(i) },
    })),
  ]
  return Req.encode(
    Req.fromObject({
      request_headers: {
        headers: {
          headers: pairs.map(([key, v]) =>
            h.legacy ? { key, value: v } : { key, raw_value: Buffer.from(v, 'latin1') },
          ),
        },
        end_of_stream: true,
      },
      attributes: [{ key: 'envoy.filters.http.ext_proc', value: { fields } }],
    }),
  ).finish()
}

const otherPhase = fc.constantFrom(
  { request_body: { body: Buffer.from('x'), end_of_stream: true } },
  { request_trailers: { trailers: { headers: [] } } },
  { response_headers: { headers: { headers: [] } } },
  { response_body: { body: Buffer.from('y') } },
  { response_trailers: { trailers: { headers: [] } } },
  {},
)

interface Outcome {
  responses: Array<Record<string, unknown>>
  ended: boolean
}

function run(messages: Uint8Array[]): Outcome {
  const out: Outcome = { responses: [], ended: false }
  const stream = new ProcessStream(
    snapshots,
    {
      send: (b) =>
        out.responses.push(
          Res.toObject(Res.decode(b), { oneofs: true, enums: Number, defaults: true }),
        ),
      end: () => {
        out.ended = true
      },
    },
    { onDecision() {} },
  )
  for (const m of messages) stream.push(m) // must never throw
  stream.endOfInput()
  return out
}

function immediateStatus(r: Record<string, unknown>): number | undefined {
  const ir = r.immediate_response as { status?: { code?: number } } | undefined
  return ir === undefined ? undefined : (ir.status?.code ?? 0)
}

describe('whole ProcessingRequests through ProcessStream', () => {
  test('request_headers: one answer; allow only where the oracle permits; denies explicit', () => {
    fc.assert(
      fc.property(headersMsg, fc.array(otherPhase, { maxLength: 3 }), (h, later) => {
        const msgs = [encodeHeaders(h), ...later.map((o) => Req.encode(Req.fromObject(o)).finish())]
        const { responses } = run(msgs)
        assert.ok(responses.length >= 1)
        const first = responses[0] as Record<string, unknown>
        const status = immediateStatus(first)
        if (status === undefined) {
          assert.equal(first.response, 'request_headers')
          const pairs = headerPairs(h)
          const method = single(pairs, ':method')
          const path = single(pairs, ':path')
          assert.ok(
            method !== undefined && path !== undefined && oracleMayAllow(method, path, h.peer),
            `allowed ${method} ${JSON.stringify(path)} peer=${h.peer}`,
          )
        } else {
          assert.ok(status >= 400 && status <= 599, `explicit deny status, got ${status}`)
          assert.equal(responses.length, 1, 'nothing after a deny')
        }
        for (const r of responses.slice(1)) {
          const s = immediateStatus(r)
          assert.ok(s === undefined || (s >= 400 && s <= 599))
        }
      }),
      { numRuns: RUNS },
    )
  })

  test('any other first message, and random bytes, are denied explicitly', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          otherPhase.map((o) => Req.encode(Req.fromObject(o)).finish()),
          fc.uint8Array({ maxLength: 300 }),
        ),
        (bytes) => {
          const { responses } = run([bytes])
          assert.equal(responses.length, 1)
          const s = immediateStatus(responses[0] as Record<string, unknown>)
          assert.ok(
            s !== undefined && s >= 400 && s <= 599,
            `explicit deny, got ${JSON.stringify(responses[0])}`,
          )
        },
      ),
      { numRuns: RUNS },
    )
  })
})
