import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { SessionRegistrySchema } from '../../src/config/session-registry-schema.js'
import { HttpRegistry } from '../../src/liveness/http-registry.js'
import { createLogger } from '../../src/observe/logger.js'

/** A real registry on loopback: live ids, a required bearer token, and an outage switch. */
class Registry {
  live = new Set<string>()
  token = 'tok-1'
  down = false
  requests: string[] = []
  delayMs = 0
  readonly server = http.createServer((req, res) => {
    this.requests.push(req.url ?? '')
    setTimeout(() => {
      if (this.down) res.writeHead(503).end()
      else if (req.headers.authorization !== `Bearer ${this.token}`) res.writeHead(401).end()
      else
        res
          .writeHead(
            this.live.has(decodeURIComponent((req.url ?? '').split('/').pop() ?? '')) ? 200 : 404,
          )
          .end()
    }, this.delayMs)
  })
  get base(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/sessions`
  }
}

describe('HTTP session registry with cache', () => {
  const reg = new Registry()
  const dir = mkdtempSync(join(tmpdir(), 'registry-'))
  const tokenFile = join(dir, 'token')
  let now = 1_000_000
  let r: HttpRegistry
  const logger = createLogger('silent')

  before(() => new Promise<void>((res) => reg.server.listen(0, '127.0.0.1', res)))
  after(() => {
    r?.close()
    reg.server.close()
  })
  beforeEach(() => {
    r?.close()
    reg.live = new Set(['s-live'])
    reg.down = false
    reg.token = 'tok-1'
    reg.requests = []
    reg.delayMs = 0
    writeFileSync(tokenFile, 'tok-1\n')
    const cfg = SessionRegistrySchema.parse({
      source: { kind: 'http', base_url: reg.base, token_file: tokenFile },
      recheck_interval: 60_000,
      max_staleness: 300_000,
      negative_ttl: 5_000,
      idle_purge: 600_000,
    })
    r = new HttpRegistry(cfg.source as never, cfg, logger, () => now)
  })

  test('live and gone; a cached answer is synchronous', async () => {
    assert.equal(await r.check('s-live'), 'live')
    assert.equal(await r.check('s-gone'), 'gone')
    assert.equal(r.check('s-live'), 'live', 'cached positive: no promise')
    assert.equal(r.check('s-gone'), 'gone', 'cached negative within its TTL')
    assert.equal(reg.requests.length, 2)
    now += 6_000 // past the negative TTL: asked again
    assert.equal(await r.check('s-gone'), 'gone')
    assert.equal(reg.requests.length, 3)
  })

  test('concurrent misses for one session are coalesced into one lookup', async () => {
    reg.delayMs = 50
    const answers = await Promise.all(Array.from({ length: 10 }, () => r.check('s-live')))
    assert.deepEqual(new Set(answers), new Set(['live']))
    assert.equal(reg.requests.length, 1)
    assert.equal(r.stats().coalesced, 9)
  })

  test('a background re-check picks up a session that ended upstream', async () => {
    assert.equal(await r.check('s-live'), 'live')
    reg.live.delete('s-live')
    now += 61_000
    r.sweep()
    await new Promise((res) => setTimeout(res, 100))
    assert.equal(r.stats().refreshes, 1)
    assert.equal(r.check('s-live'), 'gone', 'the refresh replaced the cached positive')
  })

  test('outage: cached positives honoured within the staleness bound, then 503; unknown sessions denied', async () => {
    assert.equal(await r.check('s-live'), 'live')
    reg.down = true
    now += 100_000 // stale for re-check, within max_staleness
    assert.equal(await r.check('s-live'), 'live')
    assert.equal(await r.check('s-other'), 'unavailable')
    now += 250_000 // past max_staleness
    assert.equal(await r.check('s-live'), 'unavailable')
    reg.down = false
    assert.equal(await r.check('s-live'), 'live', 'recovers when the registry does')
  })

  test('a rotated token file is re-read, at the latest on a 401 (once)', async () => {
    reg.token = 'tok-2'
    const next = join(dir, 'token.next')
    writeFileSync(next, 'tok-2\n')
    renameSync(next, tokenFile)
    // Asked before the watcher's debounce: 401, re-read, retry once, 200.
    assert.equal(await r.check('s-live'), 'live')
    assert.deepEqual(reg.requests, ['/sessions/s-live', '/sessions/s-live'])
    reg.token = 'tok-3' // the file still says tok-2: one retry, then an outage, never an allow
    now += 61_000
    assert.equal(await r.check('s-new'), 'unavailable')
  })
})

describe('HTTP registry through the real server', () => {
  test('live session allowed, ended session 403, registry down 503', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { startTestServer } = await import('../helpers/test-server.js')
    const { createRunnerToken } = await import('../../src/tokens/runner.js')
    const { allowMutation, denyOf, exchange, newClient, requestHeaders } = await import(
      '../helpers/extproc-client.js'
    )
    const reg = new Registry()
    reg.live.add('s1')
    await new Promise<void>((res) => reg.server.listen(0, '127.0.0.1', res))
    const dir = mkdtempSync(join(tmpdir(), 'registry-e2e-'))
    const k = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    writeFileSync(join(dir, 'key.pem'), k.privateKey)
    writeFileSync(join(dir, 'token'), 'tok-1')
    const srv = await startTestServer(`
runner_tokens: { private_keys: [${join(dir, 'key.pem')}] }
session_registry:
  source: { kind: http, base_url: "${reg.base}", token_file: ${join(dir, 'token')} }
policy:
  rules:
    - { name: s, path: "/s/{session}", any_of: [{ runner_token: { session_param: session } }] }
`)
    const client = newClient(srv.port)
    const ask = async (s: string) =>
      (
        await exchange(client, [
          requestHeaders({
            ':method': 'GET',
            ':path': `/s/${s}`,
            authorization: `Bearer ${createRunnerToken(k.publicKey, s)}`,
          }),
        ])
      ).responses[0]
    try {
      assert.equal(allowMutation(await ask('s1')).set.get('x-runner-session-id'), 's1')
      assert.equal(denyOf(await ask('s2')).reason, 'session_not_live')
      reg.down = true
      const d = denyOf(await ask('s3'))
      assert.equal(d.status, 503)
      assert.equal(d.reason, 'session_registry_unavailable')
    } finally {
      client.close()
      await srv.close()
      reg.server.close()
    }
  })
})
