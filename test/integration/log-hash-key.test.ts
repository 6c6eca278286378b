import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parseConfig } from '../../src/config/load-config.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

const ID = 'sess-hashkey-41'
const route = (key: string) =>
  `/p/{id:${createHmac('sha256', key).update(ID).digest('hex').slice(0, 16)}}`
const yaml = (hashKeyFile: string | undefined) => `
${hashKeyFile === undefined ? '' : `logging: { hash_key_file: ${hashKeyFile} }`}
policy:
  rules:
    - { name: p, path: "/p/{id}", public: true }
`

describe('logging.hash_key_file: the keyed hash of captures and session ids', () => {
  test('from the file; a changed file is picked up, a bad one keeps the last good key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hash-key-'))
    const file = join(dir, 'hash.key')
    const keys = [
      'first key: thirty-two bytes or more of material',
      'second key, after a rotation; also long enough',
      'third key, in another file, long enough as well',
    ] as const
    // Written atomically, as deploy tools and Kubernetes do.
    const put = (path: string, content: string) => {
      writeFileSync(`${path}.tmp`, content)
      renameSync(`${path}.tmp`, path)
    }
    put(file, keys[0])
    const srv = await startTestServer(yaml(file))
    const client = newClient(srv.port)
    const routes = () =>
      srv.logs.lines.filter((l) => l.msg === 'decision').map((l) => String(l.route))
    const lastRoute = async () => {
      await exchange(client, [requestHeaders({ ':method': 'GET', ':path': `/p/${ID}` })])
      return routes().at(-1)
    }
    try {
      assert.equal(await lastRoute(), route(keys[0]))
      assert.ok(!srv.logs.text().includes('hash_key_file not set'))

      // Rotation: the watcher reads the new content, hashes change from the next line on.
      put(file, keys[1])
      await waitUntil(async () => (await lastRoute()) === route(keys[1]), 'the rotated key')
      assert.ok(
        srv.logs.lines.some(
          (l) => l.msg === 'log hash key reloaded: session hashes change from here on',
        ),
      )

      // A short key file: refused, logged, the last good key stays.
      put(file, 'too short')
      await waitUntil(
        () =>
          srv.logs.lines.some(
            (l) => l.msg === 'log hash key not reloaded; keeping the last good key',
          ),
        'the refusal',
      )
      assert.equal(await lastRoute(), route(keys[1]))

      // A config reload naming a bad file is refused whole, naming the key.
      const next = (hashKeyFile: string | undefined) => ({
        ...parseConfig(yaml(hashKeyFile), 'reload.yaml'),
        listen: '127.0.0.1:0',
      })
      const empty = join(dir, 'empty.key')
      writeFileSync(empty, '')
      await assert.rejects(
        srv.server.applyConfig(next(empty)),
        /logging\.hash_key_file .*empty\.key: is empty/,
      )
      await assert.rejects(
        srv.server.applyConfig(next(join(dir, 'missing'))),
        /cannot be read \(ENOENT\)/,
      )
      assert.equal(await lastRoute(), route(keys[1]))

      // A reload naming another file applies its key at once.
      const other = join(dir, 'other.key')
      put(other, keys[2])
      await srv.server.applyConfig(next(other))
      assert.equal(await lastRoute(), route(keys[2]))
      assert.equal(srv.server.sessionHasher.hash(ID), route(keys[2]).slice(7, 23))

      // Dropping the file: back to the per-start random key, and said so.
      await srv.server.applyConfig(next(undefined))
      const random = await lastRoute()
      assert.ok(!keys.some((k) => route(k) === random), 'a key of its own')
      assert.match(String(random), /^\/p\/\{id:[0-9a-f]{16}\}$/)
      assert.ok(srv.logs.text().includes('logging.hash_key_file not set'))
    } finally {
      client.close()
      await srv.close()
    }
    const text = srv.logs.text()
    for (const k of keys) assert.ok(!text.includes(k), 'a key was logged')
    assert.ok(!text.includes(ID), 'the capture itself was logged')
  })

  test('without it: a random key per start, said once at start; two starts hash differently', async () => {
    const hashes: string[] = []
    for (let i = 0; i < 2; i++) {
      const srv = await startTestServer(yaml(undefined))
      const client = newClient(srv.port)
      try {
        await exchange(client, [requestHeaders({ ':method': 'GET', ':path': `/p/${ID}` })])
      } finally {
        client.close()
        await srv.close()
      }
      const said = srv.logs.lines.filter((l) =>
        String(l.msg).startsWith('logging.hash_key_file not set'),
      )
      assert.equal(said.length, 1)
      assert.equal(said[0]?.level, 30, 'info')
      hashes.push(String(srv.logs.lines.find((l) => l.msg === 'decision')?.route))
    }
    assert.notEqual(hashes[0], hashes[1])
  })

  test('a server does not start with a key file that is too short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hash-key-'))
    const file = join(dir, 'short.key')
    writeFileSync(file, `${'x'.repeat(31)}\n`)
    await assert.rejects(
      startTestServer(yaml(file)),
      /logging\.hash_key_file .*short\.key: holds 31 bytes/,
    )
  })
})
