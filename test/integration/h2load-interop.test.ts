import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { frameMessage } from '../../src/transport/http2/message-reader.js'
import { ExternalProcessorClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// h2load (nghttp2's C load generator) as a third independent HTTP/2 client, besides grpc-js and
// Python's grpcio: many concurrent streams over few connections, with nghttp2's own framing
// and flow control. It checks HTTP status only, so the decision log says what each stream got.

const PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process'

interface MethodDef {
  requestSerialize(m: unknown): Buffer
}
const PROCESS = (ExternalProcessorClient.service as unknown as Record<string, MethodDef>)
  .Process as MethodDef

const CONFIG = `
policy:
  rules:
    - name: api
      path: /api/**
      any_of:
        - spiffe:
            trust_domains: [example.org]
`

function findH2load(): string {
  if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0) return 'h2load'
  throw new Error(
    'h2load is missing: install it (Debian: apt-get install -y nghttp2-client). CI (.ci/run) ' +
      'installs it.',
  )
}

function frame(peer: string): Buffer {
  return frameMessage(
    PROCESS.requestSerialize(
      requestHeaders(
        { ':method': 'GET', ':path': '/api/x', ':authority': 'a.example.org', ':scheme': 'https' },
        { attributes: { 'connection.uri_san_peer_certificate': peer } },
      ),
    ),
  )
}

interface H2loadRun {
  succeeded: number
  failed: number
  errored: number
  status2xx: number
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`h2load (nghttp2, C) against the ${transport} transport`, () => {
    let srv: TestServer
    let dir: string
    before(async () => {
      srv = await startTestServer(CONFIG, { transport })
      dir = mkdtempSync(join(tmpdir(), 'h2load-'))
    })
    after(async () => {
      await srv.close()
      rmSync(dir, { recursive: true, force: true })
    })

    /** Runs h2load with one frame per stream: `-n N` requests, or `-D s` seconds. */
    async function h2load(data: Buffer, args: string[]): Promise<H2loadRun> {
      const file = join(dir, 'frame.bin')
      writeFileSync(file, data)
      // Asynchronously: the server under test runs on this process's event loop.
      const { stdout } = await promisify(execFile)(
        findH2load(),
        [
          ...args,
          '--data',
          file,
          '-H',
          'content-type: application/grpc',
          '-H',
          'te: trailers',
          `http://127.0.0.1:${srv.port}${PATH}`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      )
      const req =
        /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
          stdout,
        )
      const codes = /status codes: (\d+) 2xx/.exec(stdout)
      assert.ok(req !== null && codes !== null, `cannot read h2load's summary:\n${stdout}`)
      return {
        succeeded: Number(req[1]),
        failed: Number(req[2]),
        errored: Number(req[3]),
        status2xx: Number(codes[1]),
      }
    }

    const decisions = (kind: 'allow' | 'deny') =>
      srv.logs.lines.filter((l) => l.msg === 'decision' && l.decision === kind)

    test('2,000 allowed streams over 2 connections x 32: every one answered and decided', async () => {
      const before = decisions('allow').length
      const run = await h2load(frame('spiffe://example.org/ns/a/sa/b'), [
        '-n',
        '2000',
        '-c',
        '2',
        '-m',
        '32',
      ])
      assert.deepEqual(run, { succeeded: 2000, failed: 0, errored: 0, status2xx: 2000 })
      const lines = decisions('allow').slice(before)
      assert.equal(lines.length, 2000)
      assert.ok(lines.every((l) => l.rule === 'api' && l.peer === 'spiffe://example.org/ns/a/sa/b'))
    })

    test('denied streams are gRPC answers too (HTTP 200), each decided deny', async () => {
      const before = decisions('deny').length
      const run = await h2load(frame('spiffe://evil.org/ns/a/sa/b'), [
        '-n',
        '500',
        '-c',
        '1',
        '-m',
        '16',
      ])
      assert.deepEqual(run, { succeeded: 500, failed: 0, errored: 0, status2xx: 500 })
      const lines = decisions('deny').slice(before)
      assert.equal(lines.length, 500)
      assert.ok(lines.every((l) => l.reason === 'identity_not_allowed' && l.rule === 'api'))
    })

    test('a timed run at 2 x 64 streams: every stream opened is closed again, and it still serves', async () => {
      const run = await h2load(frame('spiffe://example.org/ns/a/sa/b'), [
        '-D',
        '1',
        '-c',
        '2',
        '-m',
        '64',
      ])
      assert.ok(run.succeeded > 0 && run.errored === 0, JSON.stringify(run))
      const open = async () => {
        const text = await srv.server.metrics.metrics()
        const line = text.split('\n').find((l) => l.startsWith('extproc_authz_active_streams '))
        return Number(line?.split(' ')[1])
      }
      const end = Date.now() + 5_000
      while ((await open()) !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      assert.equal(await open(), 0)
      // And the server still serves.
      const again = await h2load(frame('spiffe://example.org/ns/a/sa/b'), ['-n', '10'])
      assert.equal(again.succeeded, 10)
    })
  })
}
