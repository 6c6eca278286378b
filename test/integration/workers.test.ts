import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

describe('serve --workers: one log hash key for all workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workers-hash-'))
  const configFile = (extra: string) => {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(
      file,
      `${extra}
shutdown: { drain_seconds: 0 }
policy:
  rules:
    - { name: p, path: "/p/{id}", public: true }
`,
    )
    return file
  }

  /** Serves with two workers, sends `/p/<id>` over four connections, returns the log lines. */
  async function run(config: string, id: string): Promise<Record<string, unknown>[]> {
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [MAIN, 'serve', '--config', config, '--listen', `127.0.0.1:${port}`, '--workers', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const lines = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    )
    const clients: grpc.Client[] = Array.from({ length: 4 }, (_, i) =>
      newClient(port, undefined, { 'grpc.use_local_subchannel_pool': 1, 'test.unique': i }),
    )
    try {
      const deadline = Date.now() + 15_000
      const serving = () =>
        new Set(
          lines()
            .filter((l) => l.msg === 'extproc-authz serving')
            .map((l) => l.pid),
        )
      while (serving().size < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.equal(serving().size, 2, `two workers listening:\n${out}`)
      for (const c of clients) {
        const { status } = await exchange(c, [
          requestHeaders({ ':method': 'GET', ':path': `/p/${id}`, ':authority': 'a' }),
        ])
        assert.equal(status.code, 0)
      }
      const until = Date.now() + 5_000
      while (lines().filter((l) => l.msg === 'decision').length < 4 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      for (const c of clients) c.close()
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0)
    return lines()
  }

  test('without hash_key_file: the primary makes the key, said once; every worker hashes alike', async () => {
    const id = 'sess-workers-7d1f'
    const lines = await run(configFile(''), id)
    const decisions = lines.filter((l) => l.msg === 'decision')
    assert.equal(new Set(decisions.map((l) => l.pid)).size, 2, 'both workers decided')
    const routes = new Set(decisions.map((l) => l.route))
    assert.equal(routes.size, 1, `one hash for one id: ${[...routes].join(', ')}`)
    assert.match(String([...routes][0]), /^\/p\/\{id:[0-9a-f]{16}\}$/)
    const said = lines.filter((l) => String(l.msg).startsWith('logging.hash_key_file not set'))
    assert.equal(said.length, 1, 'said once, by the primary')
    assert.ok(!lines.some((l) => JSON.stringify(l).includes(id)), 'the id itself is never logged')
  })

  test('with hash_key_file: the HMAC under the file, the same after a restart', async () => {
    const key = 'an operator key of at least thirty-two bytes, shared by all'
    writeFileSync(join(dir, 'hash.key'), key)
    const config = configFile(`logging: { hash_key_file: ${join(dir, 'hash.key')} }`)
    const id = 'sess-workers-9a2c'
    const want = `/p/{id:${createHmac('sha256', key).update(id).digest('hex').slice(0, 16)}}`
    for (let restart = 0; restart < 2; restart++) {
      const lines = await run(config, id)
      const routes = lines.filter((l) => l.msg === 'decision').map((l) => l.route)
      assert.equal(routes.length, 4)
      assert.ok(
        routes.every((r) => r === want),
        `run ${restart}: ${routes.join(', ')}`,
      )
      assert.ok(!lines.some((l) => String(l.msg).startsWith('logging.hash_key_file not set')))
      assert.ok(!lines.some((l) => JSON.stringify(l).includes(key)), 'the key is never logged')
    }
  })
})
