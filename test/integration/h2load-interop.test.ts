import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { type H2loadResult, runH2load } from '../../bench/h2load.js'
import { requestHeaders } from '../helpers/extproc-client.js'
import { grpcFrame } from '../helpers/grpc-frame.js'
import { API_FOR_EXAMPLE_ORG } from '../helpers/policies.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// h2load (nghttp2's C load generator) as a third independent HTTP/2 client, besides grpc-js and
// Python's grpcio: many concurrent streams over few connections, with nghttp2's own framing
// and flow control. It checks HTTP status only, so the decision log says what each stream got.

function needH2load(): void {
  if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0) return
  throw new Error(
    'h2load is missing: install it (Debian: apt-get install -y nghttp2-client). CI (.ci/run) ' +
      'installs it.',
  )
}

function frame(peer: string): Buffer {
  return grpcFrame(
    requestHeaders(
      { ':method': 'GET', ':path': '/api/x', ':authority': 'a.example.org', ':scheme': 'https' },
      { attributes: { 'connection.uri_san_peer_certificate': peer } },
    ),
  )
}

/** What each test checks of a run: every stream answered, with HTTP 200. */
const outcome = (r: H2loadResult) => ({
  succeeded: r.succeeded,
  failed: r.failed,
  errored: r.errored,
  status2xx: r.status2xx,
})

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`h2load (nghttp2, C) against the ${transport} transport`, () => {
    let srv: TestServer
    before(async () => {
      srv = await startTestServer(API_FOR_EXAMPLE_ORG, { transport })
    })
    after(() => srv.close())

    // Asynchronously (runH2load): the server under test runs on this process's event loop.
    const h2load = (
      peer: string,
      run: { requests?: number; durationS?: number; connections: number; concurrency: number },
    ) => {
      needH2load()
      return runH2load({ port: srv.port, frame: frame(peer), ...run })
    }

    const decisions = (kind: 'allow' | 'deny') =>
      srv.logs.lines.filter((l) => l.msg === 'decision' && l.decision === kind)

    const ALLOWED = 'spiffe://example.org/ns/a/sa/b'

    test('2,000 allowed streams over 2 connections x 32: every one answered and decided', async () => {
      const before = decisions('allow').length
      const run = await h2load(ALLOWED, { requests: 2000, connections: 2, concurrency: 32 })
      assert.deepEqual(outcome(run), { succeeded: 2000, failed: 0, errored: 0, status2xx: 2000 })
      const lines = decisions('allow').slice(before)
      assert.equal(lines.length, 2000)
      assert.ok(lines.every((l) => l.rule === 'api' && l.peer === ALLOWED))
    })

    test('denied streams are gRPC answers too (HTTP 200), each decided deny', async () => {
      const before = decisions('deny').length
      const peer = 'spiffe://evil.org/ns/a/sa/b'
      const run = await h2load(peer, { requests: 500, connections: 1, concurrency: 16 })
      assert.deepEqual(outcome(run), { succeeded: 500, failed: 0, errored: 0, status2xx: 500 })
      const lines = decisions('deny').slice(before)
      assert.equal(lines.length, 500)
      assert.ok(lines.every((l) => l.reason === 'identity_not_allowed' && l.rule === 'api'))
    })

    test('a timed run at 2 x 64 streams: every stream opened is closed again, and it still serves', async () => {
      const run = await h2load(ALLOWED, { durationS: 1, connections: 2, concurrency: 64 })
      assert.ok(run.succeeded > 0 && run.errored === 0, JSON.stringify(outcome(run)))
      const open = async () => {
        const text = await srv.server.metrics.metrics()
        const line = text.split('\n').find((l) => l.startsWith('extproc_authz_active_streams '))
        return Number(line?.split(' ')[1])
      }
      const end = Date.now() + 5_000
      while ((await open()) !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      assert.equal(await open(), 0)
      const again = await h2load(ALLOWED, { requests: 10, connections: 1, concurrency: 1 })
      assert.equal(again.succeeded, 10)
    })
  })
}
