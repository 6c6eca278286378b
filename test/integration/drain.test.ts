import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import type { ProcessingRequest } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import type { ProcessingResponse__Output } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingResponse.js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { exchange, HealthClient, newClient, requestHeaders } from '../helpers/extproc-client.js'

const POLICY = 'policy:\n  rules:\n    - { name: pub, path: /pub, public: true }\n'

/** `serve --config` in a child process; resolves once it logs that it serves. */
function serve(yaml: string): Promise<ChildServer> {
  const dir = mkdtempSync(join(tmpdir(), 'drain-'))
  writeFileSync(join(dir, 'c.yaml'), yaml)
  return startChildServer(join(dir, 'c.yaml'))
}

/** A Process stream opened now; request_headers are written later. */
function openStream(client: grpc.Client) {
  const call = (
    client as unknown as {
      Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse__Output>
    }
  ).Process()
  const responses: ProcessingResponse__Output[] = []
  call.on('data', (r: ProcessingResponse__Output) => responses.push(r))
  call.on('error', () => {})
  const status = new Promise<grpc.StatusObject>((r) => call.on('status', r))
  return {
    send(path: string) {
      call.write(requestHeaders({ ':method': 'GET', ':path': path }))
      call.end()
      return status.then((s) => ({ status: s, responses }))
    },
  }
}

function watchHealth(port: number) {
  const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const call = (
    client as unknown as { Watch(req: object): grpc.ClientReadableStream<{ status: string }> }
  ).Watch({ service: '' })
  const seen: string[] = []
  call.on('data', (m: { status: string }) => seen.push(m.status))
  call.on('error', () => {})
  const ended = new Promise<grpc.StatusObject>((r) => call.on('status', r))
  const until = async (status: string) => {
    while (!seen.includes(status)) await new Promise((r) => setTimeout(r, 10))
  }
  return { seen, until, ended, close: () => client.close() }
}

async function activeStreams(adminPort: number | undefined): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('extproc_authz_active_streams '))
  return Number(line?.split(' ')[1] ?? Number.NaN)
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`graceful shutdown of a real serve process (${transport})`, () => {
    test('SIGTERM: NOT_SERVING at once; streams opened before it get decisions in the drain and in the grace; exit 0', {
      timeout: 60_000,
    }, async () => {
      const s = await serve(
        `listen: 127.0.0.1:0\ntransport: ${transport}\nadmin: { listen: 127.0.0.1:0 }\nshutdown: { drain_seconds: 1, grace_seconds: 5 }\n${POLICY}`,
      )
      const client = newClient(s.port)
      try {
        const warm = await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/pub' })])
        assert.ok(warm.responses[0]?.request_headers)
        const health = watchHealth(s.port)
        await health.until('SERVING')
        const inDrain = openStream(client)
        const inGrace = openStream(client)
        // Both streams are open on the server before the signal.
        const end = Date.now() + 10_000
        while ((await activeStreams(s.adminPort)) !== 2 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 25))
        }
        assert.equal(await activeStreams(s.adminPort), 2)

        s.kill('SIGTERM')
        await health.until('NOT_SERVING') // pushed by Watch, no polling
        const a = await inDrain.send('/pub')
        assert.equal(a.status.code, grpc.status.OK)
        assert.ok(a.responses[0]?.request_headers, 'decided during the drain')

        await s.waitFor(/shutting down/) // the drain is over: no new streams, open ones finish
        const b = await inGrace.send('/pub')
        assert.equal(b.status.code, grpc.status.OK)
        assert.ok(b.responses[0]?.request_headers, 'decided during the grace period')

        assert.equal((await health.ended).code, grpc.status.OK, 'Watch ended cleanly on close')
        health.close()
        assert.equal(await s.exited(), 0)
      } finally {
        client.close()
        s.kill('SIGKILL')
      }
    })
  })
}

describe('a second signal', () => {
  test('exits at once during a long drain, non-zero', { timeout: 20_000 }, async () => {
    // A 300 s drain: without the second signal the test would time out.
    const s = await serve(
      `listen: 127.0.0.1:0\nshutdown: { drain_seconds: 300, grace_seconds: 300 }\n${POLICY}`,
    )
    try {
      s.kill('SIGTERM')
      await s.waitFor(/draining/)
      s.kill('SIGINT')
      assert.equal(await s.exited(), 1)
    } finally {
      s.kill('SIGKILL')
    }
  })
})
