import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { parseConfig } from '../../src/config/load-config.js'
import type { ProcessingResponse__Output } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingResponse.js'
import { denyOf, exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

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

    test('streams beyond max_streams get 503 overloaded without a decision', async () => {
      type Call = grpc.ClientDuplexStream<unknown, ProcessingResponse__Output>
      // Start from no open streams (the previous test's stream closes when its client lets go).
      const settle = Date.now() + 2000
      while (srv.server.activeStreams() > 0 && Date.now() < settle)
        await new Promise((r) => setTimeout(r, 20))
      const open: Call[] = []
      for (let i = 0; i < 3; i++) {
        const c = (client as unknown as { Process(): Call }).Process()
        c.on('error', () => {})
        c.write(requestHeaders({ ':method': 'GET', ':path': '/h' }, { endOfStream: false }))
        open.push(c)
      }
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(srv.server.activeStreams(), 3, 'three streams held open')
      const { responses } = await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': '/h' }),
      ])
      const d = denyOf(responses[0])
      assert.equal(d.status, 503)
      assert.equal(d.reason, 'overloaded')
      for (const c of open) c.end()
      const deadline = Date.now() + 2000
      while (srv.server.activeStreams() > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      const again = await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/h' })])
      assert.ok(again.responses[0]?.request_headers, 'admitted again once streams finished')
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
      const held = (client as unknown as { Process(): Call }).Process()
      held.on('error', () => {})
      held.write(requestHeaders({ ':method': 'GET', ':path': '/h' }, { endOfStream: false }))
      const deadline = Date.now() + 2000
      while (srv.server.activeStreams() < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
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
}
