import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { reloadConfigOnChange } from '../../src/app/reload-config.js'
import { generateCa, issueLeaf } from '../../src/pki/generate.js'
import { createLogger } from '../../src/shared/logger.js'
import { createRunnerToken } from '../../src/tokens/runner.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

const k = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** A test server's /metrics; `waitFor` polls until a series reaches n (at most 15 s). */
function metricsOf(srv: TestServer) {
  const scrape = async () =>
    (await fetch(`http://127.0.0.1:${srv.server.adminPort}/metrics`)).text()
  const waitFor = async (series: string, n: number) => {
    const end = Date.now() + 15_000
    while (value(await scrape(), series) < n && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50))
    }
    return value(await scrape(), series)
  }
  return { scrape, waitFor }
}

describe('admin server: /metrics, /healthz, /readyz', () => {
  let srv: TestServer
  let client: grpc.Client
  const base = () => `http://127.0.0.1:${srv.server.adminPort}`
  const scrape = async () => (await fetch(`${base()}/metrics`)).text()

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-'))
    writeFileSync(join(dir, 'key.pem'), k.privateKey)
    srv = await startTestServer(`
admin: { listen: 127.0.0.1:0 }
runner_tokens: { private_keys: [${join(dir, 'key.pem')}] }
policy:
  rules:
    - { name: pub, path: /pub, public: true }
    - { name: s, path: "/s/{session}", any_of: [{ runner_token: { session_param: session } }] }
`)
    client = newClient(srv.port)
  })
  after(async () => {
    client.close()
    await srv.close()
  })

  test('decision counters, the duration histogram and token cache counters move', async () => {
    const before = await scrape()
    const token = createRunnerToken(k.publicKey, 'abc')
    const req = (path: string, auth?: string) =>
      requestHeaders({
        ':method': 'GET',
        ':path': path,
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      })
    await exchange(client, [req('/pub')])
    await exchange(client, [req('/nope')])
    await exchange(client, [req('/s/abc', token)])
    await exchange(client, [req('/s/abc', token)])
    const after = await scrape()
    const allowPub = 'extproc_authz_decisions_total{decision="allow",reason="public",rule="pub"}'
    const deny = 'extproc_authz_decisions_total{decision="deny",reason="no_matching_rule",rule=""}'
    assert.equal(value(after, allowPub) - value(before, allowPub), 1)
    assert.equal(value(after, deny) - value(before, deny), 1)
    assert.equal(
      value(after, 'extproc_authz_token_cache_misses_total') -
        value(before, 'extproc_authz_token_cache_misses_total'),
      1,
    )
    assert.equal(
      value(after, 'extproc_authz_token_cache_hits_total') -
        value(before, 'extproc_authz_token_cache_hits_total'),
      1,
    )
    for (const series of [
      'extproc_authz_token_decryptions_total',
      'extproc_authz_token_decryption_duration_seconds_count',
    ]) {
      assert.equal(value(after, series) - value(before, series), 1, series)
    }
    assert.ok(value(after, 'extproc_authz_token_decryption_duration_seconds_sum') > 0)
    assert.ok(value(after, 'extproc_authz_token_decryption_seconds_total') > 0)
    assert.ok(value(after, 'extproc_authz_token_keyring_age_seconds') > 0)
    assert.equal(value(after, 'extproc_authz_token_decryption_queue_depth'), 0)
    assert.equal(value(after, 'extproc_authz_token_keys_loaded'), 1)
    assert.ok(value(after, 'extproc_authz_decision_duration_seconds_count{decision="allow"}') >= 3)
    assert.doesNotMatch(
      after,
      new RegExp(token.slice(0, 40).replace(/[+/]/g, '.')),
      'no token in metrics',
    )
  })

  test('/healthz is alive; /readyz follows readiness and drain', async () => {
    assert.equal((await fetch(`${base()}/healthz`)).status, 200)
    assert.equal((await fetch(`${base()}/readyz`)).status, 200)
    srv.server.health.setServing(false)
    assert.equal((await fetch(`${base()}/readyz`)).status, 503)
    srv.server.health.setServing(true)
  })
})

describe('config reload metrics', () => {
  test('config_reloads_total{result} moves for a good and a bad file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-metrics-'))
    const file = join(dir, 'config.yaml')
    const good = (rule: string) =>
      `admin: { listen: 127.0.0.1:0 }\npolicy:\n  rules:\n    - { name: ${rule}, path: /x, public: true }\n`
    writeFileSync(file, good('a'))
    const srv = await startTestServer(good('a'))
    // As `serve --listen`: the test server listens on port 0, and listen is restart-only.
    const stop = reloadConfigOnChange(file, srv.server, createLogger('info', srv.logs), {
      listen: '127.0.0.1:0',
    })
    const { scrape, waitFor } = metricsOf(srv)
    const ok = 'extproc_authz_config_reloads_total{result="ok"}'
    const failed = 'extproc_authz_config_reloads_total{result="failed"}'
    try {
      const first = await scrape()
      assert.equal(value(first, ok), 0)
      assert.match(first, /extproc_authz_config_reloads_total\{result="failed"\} 0/)
      writeFileSync(file, good('b'))
      assert.equal(await waitFor(ok, 1), 1)
      writeFileSync(file, 'policy: [\n')
      assert.equal(await waitFor(failed, 1), 1)
      assert.equal(value(await scrape(), ok), 1)
    } finally {
      stop()
      await srv.close()
    }
  })
})

describe('runner key reload metrics', () => {
  test('token_key_reloads_total{result} counts a refused key file and the rotation after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'key-reload-metrics-'))
    const keyFile = join(dir, 'key.pem')
    writeFileSync(keyFile, k.privateKey, { mode: 0o600 })
    const srv = await startTestServer(`
admin: { listen: 127.0.0.1:0 }
runner_tokens: { private_keys: [${keyFile}] }
policy:
  rules:
    - { name: s, path: "/s/{session}", any_of: [{ runner_token: { session_param: session } }] }
`)
    // The key directory's watcher does the reloading, as in production.
    const { scrape, waitFor } = metricsOf(srv)
    const ok = 'extproc_authz_token_key_reloads_total{result="ok"}'
    const failed = 'extproc_authz_token_key_reloads_total{result="failed"}'
    try {
      const first = await scrape()
      assert.match(first, /extproc_authz_token_key_reloads_total\{result="ok"\} 0/)
      assert.match(first, /extproc_authz_token_key_reloads_total\{result="failed"\} 0/)
      writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nMIIE', { mode: 0o600 })
      assert.ok((await waitFor(failed, 1)) >= 1)
      assert.equal(value(await scrape(), ok), 0, 'a refused file is no reload')
      const next = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      })
      writeFileSync(keyFile, next.privateKey, { mode: 0o600 })
      assert.ok((await waitFor(ok, 1)) >= 1)
    } finally {
      await srv.close()
    }
  })
})

describe('serving certificate reload metrics', () => {
  test('serving_certificate_reloads_total{result} counts a refused rotation once, and the rotation after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cert-reload-metrics-'))
    const ca = await generateCa('example.org CA')
    const other = await generateCa('other CA')
    const leaf = () =>
      issueLeaf(ca, { uris: ['spiffe://example.org/extproc-authz'], dns: ['localhost'] })
    const first = await leaf()
    const certFile = join(dir, 'svid.pem')
    const keyFile = join(dir, 'svid_key.pem')
    writeFileSync(certFile, first.certPem)
    writeFileSync(keyFile, first.keyPem, { mode: 0o600 })
    writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
    const srv = await startTestServer(`
admin: { listen: 127.0.0.1:0 }
tls:
  cert_file: ${certFile}
  key_file: ${keyFile}
  bundles: { example.org: ${join(dir, 'bundle.pem')} }
  allowed_peers: [example.org]
policy:
  rules: [{ name: pub, path: /pub, public: true }]
`)
    const { scrape, waitFor } = metricsOf(srv)
    const ok = 'extproc_authz_serving_certificate_reloads_total{result="ok"}'
    const failed = 'extproc_authz_serving_certificate_reloads_total{result="failed"}'
    try {
      const start = await scrape()
      assert.match(start, /extproc_authz_serving_certificate_reloads_total\{result="ok"\} 0/)
      assert.match(start, /extproc_authz_serving_certificate_reloads_total\{result="failed"\} 0/)
      // A certificate from a CA the bundle does not hold, without its key: refused.
      const stranger = await issueLeaf(other, { uris: ['spiffe://example.org/extproc-authz'] })
      writeFileSync(certFile, stranger.certPem)
      assert.equal(await waitFor(failed, 1), 1)
      // The refused set is retried on every 5 s poll; a retry is not another refusal.
      await new Promise((r) => setTimeout(r, 6000))
      assert.equal(value(await scrape(), failed), 1, 'counted once per change')
      assert.equal(value(await scrape(), ok), 0, 'a refused rotation is no reload')
      const next = await leaf()
      writeFileSync(keyFile, next.keyPem, { mode: 0o600 })
      writeFileSync(certFile, next.certPem)
      assert.ok((await waitFor(ok, 1)) >= 1)
    } finally {
      await srv.close()
    }
  })
})
