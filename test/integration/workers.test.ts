import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type * as grpc from '@grpc/grpc-js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
    })
  })
}

describe('serve --workers: several processes on one socket', () => {
  test('connections are spread over the workers, SIGTERM stops them all', async () => {
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--workers', '2'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const pidsServing = () =>
      new Set(
        out
          .split('\n')
          .filter((l) => l.includes('extproc-authz serving'))
          .map((l) => (JSON.parse(l) as { pid: number }).pid),
      )
    const deadline = Date.now() + 15_000
    while (pidsServing().size < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(pidsServing().size, 2, 'two workers listening')

    // One connection per client (as one Envoy worker thread), four of them: round-robin
    // hands them to both workers, and every one gets real answers.
    const clients: grpc.Client[] = Array.from({ length: 4 }, (_, i) =>
      newClient(port, undefined, { 'grpc.use_local_subchannel_pool': 1, 'test.unique': i }),
    )
    try {
      for (const c of clients) {
        const { responses, status } = await exchange(c, [
          requestHeaders({
            ':method': 'GET',
            ':path': '/healthz',
            ':authority': 'a',
            ':scheme': 'https',
          }),
        ])
        assert.equal(status.code, 0)
        assert.ok(responses[0]?.request_headers)
      }
      const deciders = new Set(
        out
          .split('\n')
          .filter((l) => l.includes('"decision"'))
          .map((l) => (JSON.parse(l) as { pid: number }).pid),
      )
      assert.equal(deciders.size, 2, 'both workers decided requests')
    } finally {
      for (const c of clients) c.close()
    }

    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    )
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
  })
})
