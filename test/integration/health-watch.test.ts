import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { HealthClient } from '../helpers/extproc-client.js'
import { findPython, interopScript } from '../helpers/python.js'
import { startTestServer } from '../helpers/test-server.js'

const POLICY = 'policy:\n  rules:\n    - name: h\n      path: /healthz\n      public: true\n'

interface Watch {
  readonly statuses: string[]
  /** Resolves once `n` messages have arrived. */
  received(n: number): Promise<void>
  readonly ended: Promise<grpc.StatusObject>
  cancel(): void
}

/** Opens Health/Watch with the grpc-js client (proto-loader codec, independent of the server's). */
function watch(port: number, service: string): Watch {
  const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const call = (
    client as unknown as { Watch(req: object): grpc.ClientReadableStream<{ status: string }> }
  ).Watch({ service })
  const statuses: string[] = []
  const waiters: Array<() => void> = []
  call.on('data', (m: { status: string }) => {
    statuses.push(m.status)
    for (const w of waiters.splice(0)) w()
  })
  call.on('error', () => {}) // the status carries it
  const ended = new Promise<grpc.StatusObject>((resolve) =>
    call.on('status', (s: grpc.StatusObject) => {
      client.close()
      resolve(s)
    }),
  )
  const received = async (n: number) => {
    while (statuses.length < n) await new Promise<void>((r) => waiters.push(r))
  }
  return { statuses, received, ended, cancel: () => call.cancel() }
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`grpc.health.v1 Watch (${transport})`, () => {
    test('current status at once, then each change; server close ends the stream with OK', {
      timeout: 30_000,
    }, async () => {
      const srv = await startTestServer(POLICY, { transport })
      const w = watch(srv.port, '')
      await w.received(1)
      srv.server.health.setServing(false)
      await w.received(2)
      srv.server.health.setServing(false) // no change: nothing sent
      srv.server.health.setServing(true)
      await w.received(3)
      assert.equal(srv.server.health.watchCount, 1)
      // A long grace: if the Watch stream held the close up, the test would time out.
      await srv.server.close(60_000)
      const status = await w.ended
      assert.equal(status.code, grpc.status.OK)
      assert.deepEqual(w.statuses, ['SERVING', 'NOT_SERVING', 'SERVING'])
    })

    test('unknown service: SERVICE_UNKNOWN, stream stays open; cancel unsubscribes', {
      timeout: 30_000,
    }, async () => {
      const srv = await startTestServer(POLICY, { transport })
      try {
        const unknown = watch(srv.port, 'other.Service')
        const ext = watch(srv.port, 'envoy.service.ext_proc.v3.ExternalProcessor')
        await unknown.received(1)
        await ext.received(1)
        srv.server.health.setServing(false)
        await ext.received(2)
        assert.deepEqual(ext.statuses, ['SERVING', 'NOT_SERVING'])
        // Still open (no status) and nothing more sent for the unknown service.
        const open = await Promise.race([
          unknown.ended.then(() => false),
          new Promise<boolean>((r) => setTimeout(() => r(true), 200)),
        ])
        assert.equal(open, true, 'the unknown-service stream is still open')
        assert.deepEqual(unknown.statuses, ['SERVICE_UNKNOWN'])
        const watching = () => srv.server.health.watchCount
        assert.equal(watching(), 2)
        ext.cancel()
        assert.equal((await ext.ended).code, grpc.status.CANCELLED)
        const end = Date.now() + 10_000
        while (watching() !== 1 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 20))
        }
        assert.equal(watching(), 1, 'the cancelled watch unsubscribed')
      } finally {
        await srv.close()
      }
    })

    test('an undecodable request is INVALID_ARGUMENT', async () => {
      const srv = await startTestServer(POLICY, { transport })
      try {
        const client = new grpc.Client(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure())
        const call = client.makeServerStreamRequest(
          '/grpc.health.v1.Health/Watch',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0xff, 0xff, 0xff]),
        )
        call.on('data', () => {})
        call.on('error', () => {})
        const status = await new Promise<grpc.StatusObject>((r) => call.on('status', r))
        client.close()
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT)
      } finally {
        await srv.close()
      }
    })
  })
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`Python grpcio (C-core) Health/Watch against the ${transport} transport`, () => {
    test('SERVING, NOT_SERVING on drain, then OK when the server closes', {
      timeout: 30_000,
    }, async () => {
      const python = findPython()
      const srv = await startTestServer(POLICY, { transport })
      const child = spawn(python, [interopScript('grpcio_health_watch.py'), String(srv.port), ''], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      try {
        const lines: Array<{ status?: number; end?: number }> = []
        let buf = ''
        let wake: (() => void) | undefined
        child.stdout.on('data', (d: Buffer) => {
          buf += d
          const parts = buf.split('\n')
          buf = parts.pop() ?? ''
          for (const l of parts) lines.push(JSON.parse(l) as { status?: number; end?: number })
          wake?.()
        })
        const until = async (n: number) => {
          while (lines.length < n) await new Promise<void>((r) => (wake = r))
        }
        await until(1)
        srv.server.health.setServing(false)
        await until(2)
        await srv.server.close(60_000)
        await until(3)
        // ServingStatus SERVING = 1, NOT_SERVING = 2; gRPC status OK = 0.
        assert.deepEqual(lines, [{ status: 1 }, { status: 2 }, { end: 0 }])
      } finally {
        child.kill()
        await srv.close()
      }
    })
  })
}
