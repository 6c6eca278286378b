import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { denyOf, exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

function cli(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 })
}

describe('extproc-authz CLI', () => {
  test('--help lists the commands and every command has --help', () => {
    const help = cli('--help')
    assert.equal(help.status, 0)
    assert.match(help.stdout, /Commands:/)
    const names = [...help.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1] as string)
    assert.ok(names.includes('serve'), `commands: ${names.join(', ')}`)
    for (const name of names) {
      const sub = cli(name, '--help')
      assert.equal(sub.status, 0, `${name} --help exits 0`)
      assert.match(sub.stdout, new RegExp(`Usage: extproc-authz ${name}`))
    }
  })

  test('unknown command and unknown option exit 2; an option names itself and --help', () => {
    assert.equal(cli('nope').status, 2)
    const bad = cli('serve', '--bogus')
    assert.equal(bad.status, 2)
    assert.equal(
      bad.stderr,
      "extproc-authz serve: Unknown option '--bogus' (see 'extproc-authz serve --help')\n",
    )
  })

  test('--version prints the package version', async () => {
    const { readFile } = await import('node:fs/promises')
    const pkg = JSON.parse(
      await readFile(new URL('../../../package.json', import.meta.url), 'utf8'),
    ) as { version: string }
    const r = cli('--version')
    assert.equal(r.status, 0)
    assert.equal(r.stdout, `extproc-authz ${pkg.version}\n`)
  })

  test('a broken config file exits 1 naming the file and the key path', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'extproc-cli-'))
    const file = join(dir, 'bad.yaml')
    await writeFile(
      file,
      'policy:\n  rules:\n    - name: r\n      path: nope\n      public: true\n',
    )
    const r = cli('serve', '--config', file)
    assert.equal(r.status, 1)
    assert.match(
      r.stderr,
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid configuration`),
    )
    assert.match(r.stderr, /policy\.rules\[0\]\.path: /)
  })

  test('serve on the embedded default answers Process, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = ''
        const timer = setTimeout(() => reject(new Error(`no port in output: ${out}`)), 15_000)
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /"port":(\d+)/.exec(out)
          if (m) {
            clearTimeout(timer)
            resolve(Number(m[1]))
          }
        })
      })
      const client = newClient(port)
      const { responses } = await exchange(client, [
        requestHeaders(
          { ':method': 'GET', ':path': '/api/x', ':authority': 'a' },
          {
            attributes: { 'connection.uri_san_peer_certificate': 'spiffe://example.org/svc' },
          },
        ),
      ])
      assert.ok(responses[0]?.request_headers, 'allowed by the default policy')
      const denied = await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': '/other', ':authority': 'a' }),
      ])
      assert.equal(denyOf(denied.responses[0]).reason, 'no_matching_rule')
      client.close()
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
