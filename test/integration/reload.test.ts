import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'

const policy = (effect: string) =>
  `listen: 127.0.0.1:0\nshutdown: { drain_seconds: 0, grace_seconds: 1 }\npolicy:\n  rules:\n    - { name: r, path: /x, ${effect} }\n`

describe('hot reload of the config file', () => {
  test('file change applies; a broken file keeps the last good config; SIGHUP reloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-'))
    const conf = join(dir, 'config.yaml')
    writeFileSync(conf, policy('public: true'))
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
    const child = spawn(process.execPath, [main, 'serve', '--config', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d
    })
    const waitFor = async (re: RegExp, ms = 10_000) => {
      const end = Date.now() + ms
      while (!re.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      assert.match(out, re)
    }
    try {
      await waitFor(/"port":\d+/)
      const port = Number(/"port":(\d+)/.exec(out)?.[1])
      const client = newClient(port)
      const allowed = async () =>
        Boolean(
          (await exchange(client, [requestHeaders({ ':method': 'GET', ':path': '/x' })]))
            .responses[0]?.request_headers,
        )
      assert.equal(await allowed(), true)
      // An editor-style replace: write a new file and rename it over the old one.
      writeFileSync(join(dir, 'next.yaml'), policy('deny: true'))
      renameSync(join(dir, 'next.yaml'), conf)
      await waitFor(/config reloaded/)
      assert.equal(await allowed(), false)
      writeFileSync(conf, 'policy:\n  rules: [\n')
      await waitFor(/config not reloaded; keeping the last good one/)
      assert.equal(await allowed(), false, 'the last good config stays')
      out = ''
      writeFileSync(join(dir, 'next.yaml'), policy('public: true'))
      renameSync(join(dir, 'next.yaml'), conf)
      child.kill('SIGHUP')
      await waitFor(/"trigger":"(SIGHUP|file)".*config reloaded/)
      assert.equal(await allowed(), true)
      client.close()
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('reload with command-line overrides', () => {
  test('--listen and --workers are not reported as changed; a real restart-only change is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-ovr-'))
    const conf = join(dir, 'config.yaml')
    // The file names a listen address and worker count the command line overrides.
    const file = (effect: string, extra = '') =>
      `listen: 127.0.0.1:1\nworkers: 2\n${extra}shutdown: { drain_seconds: 0, grace_seconds: 1 }\npolicy:\n  rules:\n    - { name: r, path: /x, ${effect} }\n`
    writeFileSync(conf, file('public: true'))
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
    const child = spawn(
      process.execPath,
      [main, 'serve', '--config', conf, '--listen', '127.0.0.1:0', '--workers', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d
    })
    const waitFor = async (re: RegExp, ms = 10_000) => {
      const end = Date.now() + ms
      while (!re.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      assert.match(out, re)
    }
    try {
      await waitFor(/"port":\d+/)
      writeFileSync(conf, file('deny: true'))
      child.kill('SIGHUP')
      await waitFor(/config reloaded/)
      // Give a (wrong) warning, logged right after "config reloaded", time to appear.
      await new Promise((r) => setTimeout(r, 300))
      assert.doesNotMatch(out, /take effect only after a restart/)
      out = ''
      writeFileSync(conf, file('deny: true', 'transport: grpc-js\n'))
      child.kill('SIGHUP')
      await waitFor(/take effect only after a restart/)
      const warning = out.split('\n').find((l) => l.includes('only after a restart')) ?? ''
      assert.deepEqual((JSON.parse(warning) as { settings: string[] }).settings, ['transport'])
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
