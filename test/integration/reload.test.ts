import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { startChildServer } from '../helpers/child-server.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'

const policy = (effect: string) =>
  `listen: 127.0.0.1:0\nshutdown: { drain_seconds: 0, grace_seconds: 1 }\npolicy:\n  rules:\n    - { name: r, path: /x, ${effect} }\n`

describe('hot reload of the config file', () => {
  test('file change applies; a broken file keeps the last good config; SIGHUP reloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-'))
    const conf = join(dir, 'config.yaml')
    writeFileSync(conf, policy('public: true'))
    const server = await startChildServer(conf)
    const client = newClient(server.port)
    try {
      const allowed = async () =>
        Boolean(
          (await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/x' })]))
            .responses[0]?.request_headers,
        )
      assert.equal(await allowed(), true)
      // An editor-style replace: write a new file and rename it over the old one.
      let from = server.mark()
      writeFileSync(join(dir, 'next.yaml'), policy('deny: true'))
      renameSync(join(dir, 'next.yaml'), conf)
      await server.waitFor(/config reloaded/, 10_000, from)
      assert.equal(await allowed(), false)
      from = server.mark()
      writeFileSync(conf, 'policy:\n  rules: [\n')
      await server.waitFor(/config not reloaded; keeping the last good one/, 10_000, from)
      assert.equal(await allowed(), false, 'the last good config stays')
      from = server.mark()
      writeFileSync(join(dir, 'next.yaml'), policy('public: true'))
      renameSync(join(dir, 'next.yaml'), conf)
      server.kill('SIGHUP')
      await server.waitFor(/"trigger":"(SIGHUP|file)".*config reloaded/, 10_000, from)
      assert.equal(await allowed(), true)
    } finally {
      client.close()
    }
    assert.equal(await server.stop(), 0)
  })
})

describe('reload with command-line overrides', () => {
  test('--listen and --workers are not seen as changed; a real restart-only change refuses the reload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-ovr-'))
    const conf = join(dir, 'config.yaml')
    // The file names a listen address and worker count the command line overrides.
    const file = (effect: string, extra = '') =>
      `listen: 127.0.0.1:1\nworkers: 2\n${extra}shutdown: { drain_seconds: 0, grace_seconds: 1 }\npolicy:\n  rules:\n    - { name: r, path: /x, ${effect} }\n`
    writeFileSync(conf, file('public: true'))
    const server = await startChildServer(conf, {
      args: ['--listen', '127.0.0.1:0', '--workers', '1'],
    })
    let from = server.mark()
    writeFileSync(conf, file('deny: true'))
    server.kill('SIGHUP')
    await server.waitFor(/config reloaded/, 10_000, from)
    assert.doesNotMatch(server.since(from), /need a restart/)
    const client = newClient(server.port)
    const status = async () => {
      const r = await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/x' })])
      return r.responses[0]?.request_headers ? 'allow' : 'deny'
    }
    try {
      assert.equal(await status(), 'deny')
      // A restart-only setting changed together with the policy: the whole reload is refused,
      // the policy change included, and the line names the setting.
      from = server.mark()
      writeFileSync(conf, file('public: true', 'transport: grpc-js\n'))
      server.kill('SIGHUP')
      await server.waitFor(/config not reloaded; keeping the last good one/, 10_000, from)
      const line = server
        .since(from)
        .split('\n')
        .find((l) => l.includes('config not reloaded'))
      assert.match(
        (JSON.parse(line ?? '{}') as { err: string }).err,
        /changed settings need a restart: transport/,
      )
      assert.equal(await status(), 'deny', 'the policy of the refused file is not applied')
    } finally {
      client.close()
    }
    assert.equal(await server.stop(), 0)
  })
})
