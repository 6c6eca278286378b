import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

const CONFIG = `
policy:
  rules:
    - name: healthz
      methods: [GET]
      path: /healthz
      public: true
    - name: admin-carve-out
      path: /api/admin/**
      deny: true
    - name: sessions
      methods: [GET, POST]
      path: /api/sessions/{session}/**
      any_of:
        - spiffe:
            ids: [spiffe://example.org/ns/ci/sa/runner]
        - spiffe:
            prefixes: [spiffe://example.org/ns/prod]
    - name: api
      path: /api/**
      hosts: [api.example.org, "*.internal.example.org"]
      any_of:
        - spiffe:
            trust_domains: [example.org]
`

const PEER = 'spiffe://example.org/ns/prod/sa/api'
const PEER_ATTR = { 'connection.uri_san_peer_certificate': PEER }

function req(path: string, extra: Record<string, string> = {}, method = 'GET') {
  return {
    ':method': method,
    ':path': path,
    ':authority': 'api.example.org',
    ':scheme': 'https',
    ...extra,
  }
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`ext_proc Process over a real gRPC socket (${transport})`, () => {
    let srv: TestServer
    let client: grpc.Client

    before(async () => {
      srv = await startTestServer(CONFIG, { transport })
      client = newClient(srv.port)
    })
    after(async () => {
      client.close()
      await srv.close()
    })

    test('allow sets x-spiffe-id in raw_value with overwrite, removes other owned headers', async () => {
      const { responses, status } = await exchange(client, [
        requestHeaders(req('/api/things?x=1', { 'x-spiffe-id': 'spiffe://evil/forged' }), {
          attributes: PEER_ATTR,
        }),
      ])
      assert.equal(status.code, grpc.status.OK)
      assert.equal(responses.length, 1)
      const m = allowMutation(responses[0])
      assert.equal(m.set.get('x-spiffe-id'), PEER)
      assert.equal(
        m.setValueField.get('x-spiffe-id'),
        '',
        'the value must travel in raw_value only',
      )
      assert.equal(m.appendActions.get('x-spiffe-id'), 'OVERWRITE_IF_EXISTS_OR_ADD')
      // Every other owned header in every '-'/'_' spelling, and Authorization (on by default).
      assert.deepEqual(m.remove.sort(), [
        'authorization',
        'x-runner-session-id',
        'x-runner-session_id',
        'x-runner_session-id',
        'x-runner_session_id',
        'x-spiffe_id',
        'x_runner-session-id',
        'x_runner-session_id',
        'x_runner_session-id',
        'x_runner_session_id',
        'x_spiffe-id',
        'x_spiffe_id',
      ])
      assert.equal(responses[0]?.request_headers?.response?.status ?? 'CONTINUE', 'CONTINUE')
    })

    test('public route: allowed without identity, client copies of identity headers removed', async () => {
      const { responses } = await exchange(client, [
        requestHeaders(req('/healthz', { 'x-spiffe-id': PEER, 'x-runner-session-id': 's1' })),
      ])
      const m = allowMutation(responses[0])
      assert.equal(m.set.size, 0)
      assert.ok(m.remove.includes('x-spiffe-id') && m.remove.includes('x_spiffe_id'))
      assert.ok(
        m.remove.includes('x-runner-session-id') && m.remove.includes('x_runner_session_id'),
      )
      assert.ok(m.remove.includes('authorization'), 'a public route gets no Authorization either')
    })

    test('path templates with parameters and prefix matching', async () => {
      const ok = await exchange(client, [
        requestHeaders(req('/api/sessions/abc/logs'), { attributes: PEER_ATTR }),
      ])
      assert.equal(allowMutation(ok.responses[0]).set.get('x-spiffe-id'), PEER)
      // prefix spiffe://example.org/ns/prod must not match ns/production
      const other = await exchange(client, [
        requestHeaders(req('/api/sessions/abc/logs', {}, 'POST'), {
          attributes: {
            'connection.uri_san_peer_certificate': 'spiffe://example.org/ns/production/x',
          },
        }),
      ])
      const d = denyOf(other.responses[0])
      assert.equal(d.status, 403)
      assert.equal(d.reason, 'identity_not_allowed')
    })

    const denies: Array<{
      name: string
      headers: Record<string, string>
      attrs?: Record<string, string>
      status: number
      reason: string
    }> = [
      { name: 'no identity', headers: req('/api/x'), status: 401, reason: 'identity_missing' },
      {
        name: 'identity that fails the SPIFFE standard is no identity',
        headers: req('/api/x'),
        attrs: { 'connection.uri_san_peer_certificate': 'spiffe://Example.org/x' },
        status: 401,
        reason: 'identity_missing',
      },
      {
        name: 'other trust domain',
        headers: req('/api/x'),
        attrs: { 'connection.uri_san_peer_certificate': 'spiffe://evil.org/ns/prod' },
        status: 403,
        reason: 'identity_not_allowed',
      },
      {
        name: 'host not listed',
        headers: { ...req('/api/x'), ':authority': 'other.example.org' },
        attrs: PEER_ATTR,
        status: 403,
        reason: 'no_matching_rule',
      },
      {
        name: 'wildcard host matches subdomain only',
        headers: { ...req('/api/x'), ':authority': 'internal.example.org:443' },
        attrs: PEER_ATTR,
        status: 403,
        reason: 'no_matching_rule',
      },
      {
        name: 'method not listed',
        headers: req('/healthz', {}, 'POST'),
        status: 403,
        reason: 'no_matching_rule',
      },
      {
        name: 'explicit deny rule',
        headers: req('/api/admin/users'),
        attrs: PEER_ATTR,
        status: 403,
        reason: 'rule_denies',
      },
      {
        name: 'dot segments',
        headers: req('/api/x/../admin/users'),
        attrs: PEER_ATTR,
        status: 400,
        reason: 'path_invalid',
      },
      {
        name: 'encoded slash',
        headers: req('/api/admin%2Fusers'),
        attrs: PEER_ATTR,
        status: 400,
        reason: 'path_invalid',
      },
      {
        name: 'missing :path',
        headers: { ':method': 'GET', ':authority': 'api.example.org' },
        status: 400,
        reason: 'request_malformed',
      },
    ]
    for (const c of denies) {
      test(`deny: ${c.name} -> ${c.status} ${c.reason}`, async () => {
        const { responses, status } = await exchange(client, [
          requestHeaders(
            { ...c.headers, 'x-request-id': 'req-123' },
            c.attrs ? { attributes: c.attrs } : {},
          ),
        ])
        assert.equal(status.code, grpc.status.OK)
        assert.equal(responses.length, 1)
        const d = denyOf(responses[0])
        assert.equal(d.status, c.status)
        assert.equal(d.reason, c.reason)
        assert.equal(d.details, `extproc_authz_${c.reason}`)
        assert.equal(d.contentType, 'application/json')
        assert.equal(d.grpcStatus, undefined)
        // Missing :path means the facts (and so the request id) could not be read.
        if (c.reason !== 'request_malformed') assert.equal(d.body.request_id, 'req-123')
        assert.equal(typeof d.body.error, 'string')
      })
    }

    test('deny bodies say nothing about the identity or the rule', async () => {
      const { responses } = await exchange(client, [
        requestHeaders(req('/api/x'), {
          attributes: { 'connection.uri_san_peer_certificate': 'spiffe://evil.org/ns/prod' },
        }),
      ])
      const d = denyOf(responses[0])
      assert.deepEqual(Object.keys(d.body).sort(), ['error', 'reason', 'request_id'])
      assert.doesNotMatch(JSON.stringify(d.body), /evil|api|spiffe/)
    })

    test('gRPC callers get a grpc-status in the immediate response', async () => {
      const { responses } = await exchange(client, [
        requestHeaders(req('/api/x', { 'content-type': 'application/grpc+proto' })),
      ])
      const d = denyOf(responses[0])
      assert.equal(d.status, 401)
      assert.equal(d.grpcStatus, grpc.status.UNAUTHENTICATED)
    })

    test('older Envoy: header values in `value` are read too', async () => {
      const { responses } = await exchange(client, [
        requestHeaders(req('/api/x'), { legacyValue: true, attributes: PEER_ATTR }),
      ])
      assert.equal(allowMutation(responses[0]).set.get('x-spiffe-id'), PEER)
    })

    test('every later phase gets a CONTINUE of its own kind, in order', async () => {
      const { responses, status } = await exchange(client, [
        requestHeaders(req('/api/x'), { attributes: PEER_ATTR, endOfStream: false }),
        { request_body: { body: Buffer.from('hello'), end_of_stream: false } },
        { request_trailers: { trailers: { headers: [] } } },
        {
          response_headers: {
            headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] },
          },
        },
        { response_body: { body: Buffer.from('world'), end_of_stream: true } },
        { response_trailers: { trailers: { headers: [] } } },
      ])
      assert.equal(status.code, grpc.status.OK)
      assert.deepEqual(
        responses.map((r) => r.response),
        [
          'request_headers',
          'request_body',
          'request_trailers',
          'response_headers',
          'response_body',
          'response_trailers',
        ],
      )
    })

    test('attributes count only on the first message of the stream', async () => {
      // First message carries no attributes: no identity, even if a later message had them.
      const { responses } = await exchange(client, [requestHeaders(req('/api/x'))])
      assert.equal(denyOf(responses[0]).reason, 'identity_missing')
    })

    test('a phase before request_headers is never continued', async () => {
      for (const first of [
        { request_body: { body: Buffer.from('x'), end_of_stream: true } },
        { response_headers: { headers: { headers: [] } } },
        {},
      ]) {
        const { responses } = await exchange(client, [first])
        const d = denyOf(responses[0])
        assert.equal(d.reason, 'protocol_error')
        assert.equal(d.status, 500)
      }
    })

    test('a second request_headers after the decision is a protocol error, not a pass', async () => {
      const { responses } = await exchange(client, [
        requestHeaders(req('/api/x'), { attributes: PEER_ATTR }),
        requestHeaders(req('/api/admin/x'), { attributes: PEER_ATTR }),
      ])
      assert.equal(responses.length, 2)
      assert.equal(denyOf(responses[1]).reason, 'protocol_error')
    })

    test('client cancel mid-stream leaves no state behind and the server keeps serving', async () => {
      const answered: Array<Promise<unknown>> = []
      const calls = Array.from({ length: 20 }, () => {
        const call = (
          client as unknown as { Process(): grpc.ClientDuplexStream<unknown, unknown> }
        ).Process()
        call.on('error', () => {})
        answered.push(new Promise((resolve) => call.once('data', resolve)))
        call.write(requestHeaders(req('/api/x'), { attributes: PEER_ATTR, endOfStream: false }))
        return call
      })
      // Cancelled mid-stream once the server has answered each (it holds them open, as Envoy
      // does for the rest of the request; a fixed sleep let some cancel unseen). Answered
      // streams hold no admission slot, so the count cannot show them.
      await Promise.all(answered)
      for (const c of calls) c.cancel()
      await waitUntil(() => srv.server.activeStreams() === 0, 'the cancelled streams to go')
      const { responses } = await exchange(client, [requestHeaders(req('/healthz'))])
      assert.ok(responses[0]?.request_headers)
    })
  })
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`malformed and oversized messages (${transport})`, () => {
    let srv: TestServer
    before(async () => {
      srv = await startTestServer(
        `${CONFIG}\nlimits:\n  max_headers: 16\n  max_header_bytes: 2048\n`,
        {
          transport,
        },
      )
    })
    after(() => srv.close())

    function rawExchange(
      bytes: Buffer,
    ): Promise<{ responses: Buffer[]; status: grpc.StatusObject }> {
      const client = new grpc.Client(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure())
      return new Promise((resolve) => {
        const call = client.makeBidiStreamRequest(
          '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
          (b: Buffer) => b,
          (b: Buffer) => b,
        )
        const responses: Buffer[] = []
        call.on('data', (b: Buffer) => responses.push(b))
        call.on('error', () => {})
        call.on('status', (status) => {
          client.close()
          resolve({ responses, status })
        })
        call.write(bytes)
        call.end()
      })
    }

    test('undecodable protobuf gets an immediate 400, not a crash', async () => {
      // field 2 (request_headers), length 50, but only 3 bytes follow
      const { responses } = await rawExchange(Buffer.from([0x12, 50, 1, 2, 3]))
      assert.equal(responses.length, 1)
      // ProcessingResponse field 7 (immediate_response)
      assert.equal(responses[0]?.[0], (7 << 3) | 2)
      assert.match(responses[0]?.toString('latin1') ?? '', /extproc_authz_request_malformed/)
    })

    test('more header fields than the limit: 431 headers_too_large', async () => {
      const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-h${i}`, 'v']))
      const client = newClient(srv.port)
      const { responses } = await exchange(client, [
        requestHeaders({ ...req('/healthz'), ...many }),
      ])
      client.close()
      const d = denyOf(responses[0])
      assert.equal(d.status, 431)
      assert.equal(d.reason, 'headers_too_large')
    })

    test('more header bytes than the limit: 431', async () => {
      const client = newClient(srv.port)
      const { responses } = await exchange(client, [
        requestHeaders({ ...req('/healthz'), 'x-big': 'a'.repeat(4096) }),
      ])
      client.close()
      assert.equal(denyOf(responses[0]).reason, 'headers_too_large')
    })
  })
}
