import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { requestHeaders } from '../helpers/extproc-client.js'
import { PROCESS_METHOD } from '../helpers/grpc-frame.js'
import { API_FOR_EXAMPLE_ORG } from '../helpers/policies.js'
import { findPython, interopScript } from '../helpers/python.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

const SCRIPT = interopScript('grpcio_client.py')

function req(path: string, peer: string) {
  return requestHeaders(
    { ':method': 'GET', ':path': path, ':authority': 'a.example.org', ':scheme': 'https' },
    { attributes: { 'connection.uri_san_peer_certificate': peer } },
  )
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`Python grpcio (C-core) client against the ${transport} transport`, () => {
    let srv: TestServer
    let dir: string
    before(async () => {
      srv = await startTestServer(API_FOR_EXAMPLE_ORG, { transport })
      dir = mkdtempSync(join(tmpdir(), 'grpcio-'))
    })
    after(async () => {
      await srv.close()
      rmSync(dir, { recursive: true, force: true })
    })

    test('allow, deny and an undecodable message, each on its own stream', async () => {
      const python = findPython()
      const messages = [
        PROCESS_METHOD.requestSerialize(req('/api/x', 'spiffe://example.org/ns/a/sa/b')),
        PROCESS_METHOD.requestSerialize(req('/api/x', 'spiffe://evil.org/ns/a/sa/b')),
        Buffer.from([0xff, 0xff, 0xff]),
      ]
      const file = join(dir, 'frames.hex')
      writeFileSync(file, messages.map((m) => m.toString('hex')).join('\n'))
      // Asynchronously: the server under test runs on this process's event loop.
      const { stdout: out } = await promisify(execFile)(python, [SCRIPT, String(srv.port), file], {
        encoding: 'utf8',
        timeout: 20_000,
      })
      const results = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status: number; responses: string[] })
      assert.equal(results.length, 3)
      const decoded = results.map((r) =>
        r.responses.map((h) => PROCESS_METHOD.responseDeserialize(Buffer.from(h, 'hex'))),
      )
      assert.deepEqual(
        results.map((r) => r.status),
        [0, 0, 0],
      )
      assert.ok(decoded[0]?.[0]?.request_headers, 'allow is a request_headers CONTINUE')
      const deny = decoded[1]?.[0]?.immediate_response as { status?: { code?: unknown } }
      assert.equal(deny.status?.code, 'Forbidden')
      const bad = decoded[2]?.[0]?.immediate_response as { status?: { code?: unknown } }
      assert.equal(bad.status?.code, 'BadRequest')
    })
  })
}
