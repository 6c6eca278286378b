import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { startChildServer } from '../helpers/child-server.js'
import { exchange, HealthClient, newClient, requestHeaders } from '../helpers/extproc-client.js'

function check(port: number, service: string): Promise<{ code: grpc.status; status?: string }> {
  const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  return new Promise((resolve) => {
    ;(
      client as unknown as {
        Check(
          req: object,
          cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
        ): void
      }
    ).Check({ service }, (err, res) => {
      client.close()
      resolve(err ? { code: err.code } : { code: grpc.status.OK, status: res?.status })
    })
  })
}

// Check's answers on both transports are in transport-parity.test.ts.
const POLICY = 'policy:\n  rules:\n    - name: h\n      path: /healthz\n      public: true\n'

describe('graceful drain of a real serve process', () => {
  test('SIGTERM: NOT_SERVING at once, Process still answered during the drain, then exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drain-'))
    const conf = join(dir, 'c.yaml')
    writeFileSync(
      conf,
      `listen: 127.0.0.1:0\nshutdown: { drain_seconds: 1.5, grace_seconds: 2 }\n${POLICY}`,
    )
    const server = await startChildServer(conf)
    const port = server.port
    try {
      assert.equal((await check(port, '')).status, 'SERVING')
      const from = server.mark()
      server.kill('SIGTERM')
      await server.waitFor(/draining/, 10_000, from) // logged as health flips, before the drain wait
      assert.equal((await check(port, '')).status, 'NOT_SERVING')
      const client = newClient(port)
      const { responses } = await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': '/healthz' }),
      ])
      client.close()
      assert.ok(responses[0]?.request_headers, 'still deciding during the drain')
      assert.equal(await server.exited(), 0)
    } finally {
      server.kill('SIGKILL')
    }
  })
})
