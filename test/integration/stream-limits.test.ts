import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { parseConfig } from '../../src/config/load-config.js'
import type { ProcessingResponse__Output } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingResponse.js'
import { denyOf, exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`stream limits (${transport})`, () => {
    let srv: TestServer
    let client: grpc.Client
    before(async () => {
      srv = await startTestServer(`
transport: ${transport}
limits: { max_streams: 3, stream_idle_timeout_ms: 200 }
policy:
  rules: [{ name: h, path: /h, public: true }]
`)
      client = newClient(srv.port)
    })
    after(async () => {
      client.close()
      await srv.close()
    })

    test('a stream that sends nothing is answered 408 and closed after the idle bound', async () => {
      const started = Date.now()
      const { responses } = await exchange(client, [], { halfClose: false })
      assert.ok(Date.now() - started >= 150)
      const d = denyOf(responses[0])
      assert.equal(d.status, 408)
      assert.equal(d.reason, 'stream_idle_timeout')
    })

    test('an answered stream gives its slot back: allowed streams kept open do not block others', async () => {
      type Call = grpc.ClientDuplexStream<unknown, ProcessingResponse__Output>
      const open: Call[] = []
      for (let i = 0; i < 10; i++) {
        const c = (client as unknown as { Process(): Call }).Process()
        c.on('error', () => {})
        c.write(requestHeaders({ ':method': 'GET', ':path': '/h' }, { endOfStream: false }))
        open.push(c)
      }
      // Each is answered (allowed) and stays open, as Envoy keeps it for the whole request.
      await Promise.all(open.map((c) => new Promise((r) => c.once('data', r))))
      assert.equal(srv.server.activeStreams(), 0, 'answered streams hold no slot')
      const { responses } = await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': '/h' }),
      ])
      assert.ok(responses[0]?.request_headers, 'a new stream is admitted and decided')
      for (const c of open) c.end()
    })

    test('a reload that lowers max_streams applies to the next stream', async () => {
      type Call = grpc.ClientDuplexStream<unknown, ProcessingResponse__Output>
      const reloaded = (max: number) =>
        srv.server.applyConfig({
          ...parseConfig(
            `limits: { max_streams: ${max} }\npolicy: { rules: [{ name: h, path: /h, public: true }] }`,
            'reload.yaml',
          ),
          listen: '127.0.0.1:0',
          transport,
        })
      await reloaded(1)
      // Held undecided: it sends nothing (the reloaded idle bound is the default 10 s).
      const held = (client as unknown as { Process(): Call }).Process()
      held.on('error', () => {})
      await waitUntil(() => srv.server.activeStreams() >= 1, 'the held stream to open')
      const { responses } = await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': '/h' }),
      ])
      assert.equal(denyOf(responses[0]).reason, 'overloaded')
      await reloaded(3)
      const again = await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/h' })])
      assert.ok(again.responses[0]?.request_headers, 'admitted once the limit is raised again')
      held.end()
    })
  })

  describe(`undecided streams are bounded; refusals take no slot (${transport})`, () => {
    let srv: TestServer
    let client: grpc.Client
    before(async () => {
      // Held streams send nothing: the idle bound (10 s) outlasts the test by far.
      srv = await startTestServer(`
transport: ${transport}
limits: { max_streams: 3, stream_idle_timeout_ms: 10000 }
policy:
  rules: [{ name: h, path: /h, public: true }]
`)
      client = newClient(srv.port)
    })
    after(async () => {
      client.close()
      await srv.close()
    })

    test('beyond max_streams undecided streams, new ones get 503 overloaded at once and count for nothing', async () => {
      type Call = grpc.ClientDuplexStream<unknown, ProcessingResponse__Output>
      const held: Call[] = []
      for (let i = 0; i < 3; i++) {
        const c = (client as unknown as { Process(): Call }).Process()
        c.on('error', () => {})
        held.push(c)
      }
      const deadline = Date.now() + 10_000
      while (srv.server.activeStreams() < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      assert.equal(srv.server.activeStreams(), 3, 'three undecided streams hold the slots')
      // 4x the limit: every refusal is answered and none takes a slot.
      const refused = await Promise.all(
        Array.from({ length: 12 }, () =>
          exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/h' })]),
        ),
      )
      for (const r of refused) assert.equal(denyOf(r.responses[0]).reason, 'overloaded')
      assert.equal(srv.server.activeStreams(), 3, 'refused streams took no slot')
      held[0]?.end()
      held[0]?.cancel()
      const freed = Date.now() + 10_000
      while (srv.server.activeStreams() > 2 && Date.now() < freed)
        await new Promise((r) => setTimeout(r, 20))
      const again = await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/h' })])
      assert.ok(again.responses[0]?.request_headers, 'a freed slot admits the next stream')
      for (const c of held) c.cancel()
    })
  })
}
