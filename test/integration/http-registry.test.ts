import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { SessionRegistrySchema } from '../../src/liveness/config-schema.js'
import { HttpRegistry } from '../../src/liveness/http-registry.js'
import { createLogger } from '../../src/shared/logger.js'
import { LogCapture } from '../helpers/test-server.js'

/** A real registry on loopback: live ids, a required bearer token, and an outage switch. */
class Registry {
  live = new Set<string>()
  token = 'tok-1'
  down = false
  requests: string[] = []
  delayMs = 0
  inflight = 0
  maxInflight = 0
  readonly server = http.createServer((req, res) => {
    this.requests.push(req.url ?? '')
    this.inflight++
    this.maxInflight = Math.max(this.maxInflight, this.inflight)
    res.on('close', () => this.inflight--)
    setTimeout(() => {
      if (this.down) res.writeHead(503).end()
      else if (this.token !== '' && req.headers.authorization !== `Bearer ${this.token}`)
        res.writeHead(401).end()
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
    now += 1_000
    assert.equal(r.check('s-live'), 'live', 'in use since its check: due for re-checks')
    reg.live.delete('s-live')
    now += 61_000
    r.sweep()
    await r.idle() // the re-check itself, however long it takes (no fixed sleep)
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
    now += 30_001 // the longest backoff: the next lookup is a probe
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

describe('the registry client cannot stampede the registry (injected clock)', () => {
  const reg = new Registry()
  let now = 5_000_000
  let r: HttpRegistry
  let logs: LogCapture
  const make = (timeout = 1000) => {
    r?.close()
    logs = new LogCapture()
    const cfg = SessionRegistrySchema.parse({
      source: { kind: 'http', base_url: reg.base, timeout },
      recheck_interval: 2_000,
      max_staleness: 300_000,
      negative_ttl: 5_000,
      idle_purge: 600_000,
    })
    r = new HttpRegistry(cfg.source as never, cfg, createLogger('info', logs), () => now)
  }
  const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}-${i}`)

  before(() => new Promise<void>((res) => reg.server.listen(0, '127.0.0.1', res)))
  after(() => {
    r?.close()
    reg.server.closeAllConnections()
    reg.server.close()
  })
  beforeEach(() => {
    reg.live = new Set([...ids(200, 's'), 'a', 'b'])
    reg.token = '' // no bearer token configured here
    reg.down = false
    reg.requests = []
    reg.delayMs = 0
    reg.maxInflight = 0
    make()
  })

  test('an idle server asks nothing: sessions not used since their check are not re-checked', async () => {
    for (const id of ids(200, 's')) assert.equal(await r.check(id), 'live')
    const asked = reg.requests.length
    for (let i = 0; i < 5; i++) {
      now += 2_000
      r.sweep()
    }
    await new Promise((res) => setTimeout(res, 50))
    assert.equal(reg.requests.length, asked, 'no background lookups for idle sessions')
    assert.equal(r.stats().refreshes, 0)
  })

  test('lookups in flight are bounded (32), the rest wait their turn and are answered', async () => {
    reg.delayMs = 30
    const answers = await Promise.all(ids(200, 's').map((id) => r.check(id)))
    assert.deepEqual(new Set(answers), new Set(['live']))
    assert.ok(reg.maxInflight <= 32, `registry saw ${reg.maxInflight} concurrent lookups`)
    assert.ok(reg.maxInflight >= 2, 'lookups do run concurrently')
    // Sessions in use, all due at once: one sweep starts at most 32 re-checks.
    now += 500
    for (const id of ids(200, 's')) r.check(id)
    now += 2_000
    reg.maxInflight = 0
    const before = reg.requests.length
    r.sweep()
    assert.ok(reg.requests.length - before <= 32)
    await r.idle() // every re-check started has ended: the most in flight is final
    assert.ok(reg.maxInflight <= 32)
  })

  test('registry failing: one log line down, lookups back off, one probe per backoff, one line back', async () => {
    reg.down = true
    assert.equal(await r.check('a'), 'unavailable')
    assert.equal(reg.requests.length, 1)
    for (const id of ids(20, 'x')) assert.equal(await r.check(id), 'unavailable')
    assert.equal(reg.requests.length, 1, 'during the backoff nothing is asked')
    assert.equal(r.stats().down, true)
    now += 250 // the first backoff has passed: one probe
    await Promise.all(ids(5, 'y').map((id) => r.check(id)))
    assert.equal(reg.requests.length, 2, 'exactly one probe')
    reg.down = false
    now += 30_001
    assert.equal(await r.check('b'), 'live')
    assert.equal(r.stats().down, false)
    const down = logs.lines.filter((l) => String(l.msg).startsWith('session registry unreachable'))
    const back = logs.lines.filter((l) => l.msg === 'session registry reachable again')
    assert.equal(down.length, 1)
    assert.equal(back.length, 1)
    assert.equal(back[0]?.failed_lookups, 2)
  })

  test('a hung registry holds one lookup for the timeout; later ones are answered at once from cache or 503', async () => {
    make(200)
    assert.equal(await r.check('a'), 'live')
    reg.delayMs = 60_000 // hung from now on
    now += 3_000 // 'a' is stale for re-checks but within max_staleness
    assert.equal(await r.check('b'), 'unavailable') // waits for the 200 ms timeout
    const asked = reg.requests.length
    const later = await Promise.all([r.check('c'), r.check('d'), r.check('a')])
    assert.deepEqual(later, ['unavailable', 'unavailable', 'live'])
    assert.equal(reg.requests.length, asked, 'answered without asking the hung registry')
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
