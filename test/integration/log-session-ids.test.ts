import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { REASONS } from '../../src/authz/reasons.js'
import type { ProcessingRequest } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import { createRunnerJwe, createRunnerToken } from '../../src/tokens/runner.js'
import { exchange, type Headers, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

const k = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

// Every planted value contains MARK: the logs are scanned for it (and for the tokens).
const MARK = 'plnt7q'
const LIVE = `sess-${MARK}-live`
const GONE = `sess-${MARK}-gone`
const PEER_ATTR = { 'connection.uri_san_peer_certificate': 'spiffe://example.org/ns/a/sa/other' }

/** Reasons no request can reach, so no request value can be in their line. */
const NOT_FROM_A_REQUEST: Record<string, string> = {
  not_ready: 'startServer builds the snapshot before it listens',
  internal_error: 'runner_token rules without runner_tokens do not compile',
}

const RULES = `
policy:
  rules:
    - { name: open, path: "/open/{id}", public: true }
    - { name: blocked, path: "/blocked/{id}", deny: true }
    - { name: peer, path: "/peer/{id}", any_of: [{ spiffe: { ids: [spiffe://example.org/ns/a/sa/b] } }] }
    - { name: s, path: "/s/{session}/**", any_of: [{ runner_token: { session_param: session } }] }
`

describe('no session id, capture or token in any log line, for every deny reason', () => {
  test('planted values never reach the log (trace level)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-ids-'))
    writeFileSync(join(dir, 'key.pem'), k.privateKey)
    writeFileSync(join(dir, 'live.txt'), `${LIVE}\n`)
    const tokensSection = `
runner_tokens: { private_keys: [${join(dir, 'key.pem')}], cache: { negative_ttl_seconds: 0 } }`
    const main = await startTestServer(
      `
limits: { max_streams: 2, stream_idle_timeout_ms: 10000, max_header_bytes: 4096 }
${tokensSection}
session_registry: { source: { kind: file, path: ${join(dir, 'live.txt')} } }
${RULES}`,
      { level: 'trace' },
    )
    // A registry nobody answers for: session_registry_unavailable; a short idle bound too.
    const down = await startTestServer(
      `
limits: { stream_idle_timeout_ms: 100 }
${tokensSection}
session_registry: { source: { kind: http, base_url: "http://127.0.0.1:1", timeout: 50 } }
${RULES}`,
      { level: 'trace' },
    )
    const tokens = [
      createRunnerToken(k.publicKey, LIVE),
      createRunnerToken(k.publicKey, GONE),
      createRunnerToken(k.publicKey, `${LIVE}!not-an-id`),
      await createRunnerJwe(k.publicKey, LIVE, { ttlSeconds: -600 }),
      `${MARK}-not-a-token`,
    ]
    const [live, gone, badId, expired, garbage] = tokens as [string, string, string, string, string]
    const mainClient = newClient(main.port)
    const downClient = newClient(down.port)
    const get = (path: string, extra: Record<string, string> = {}): Headers => ({
      ':method': 'GET',
      ':path': path,
      ':authority': `${MARK}.example.org`,
      'x-request-id': 'req-1',
      ...extra,
    })
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` })
    const send = (client: grpc.Client, messages: ProcessingRequest[]) => exchange(client, messages)
    try {
      const m = (h: Headers, attributes?: Record<string, string>) =>
        send(mainClient, [requestHeaders(h, attributes ? { attributes } : {})])
      await m(get(`/open/${LIVE}`)) // allow (public), capture in the route
      await m(get(`/open/${LIVE}#frag-${MARK}?q=${MARK}`)) // a fragment and a query
      await m(get(`/s/${LIVE}/logs`, bearer(live))) // allow (runner token, live)
      await m(get(`/nowhere/${LIVE}`)) // no_matching_rule
      await m(get(`/blocked/${LIVE}`)) // rule_denies
      await m(get(`/peer/${LIVE}`)) // identity_missing
      await m(get(`/peer/${LIVE}`), PEER_ATTR) // identity_not_allowed
      await m(get(`/s/${LIVE}/x`)) // token_missing
      await m(get(`/s/${LIVE}/x`, bearer(garbage))) // token_invalid
      await m(get(`/s/${LIVE}/x`, bearer(expired))) // token_expired
      await m(get(`/s/${LIVE}/x`, bearer(badId))) // session_id_invalid
      await m(get(`/s/${GONE}/x`, bearer(live))) // session_mismatch (path names another)
      await m(get(`/s/other/x`, bearer(live))) // session_mismatch (token names another)
      await m(get(`/s/${GONE}/x`, bearer(gone))) // session_not_live
      await m(get(`/s/${LIVE}/../x`, bearer(live))) // path_invalid
      await m(get(`/s/${LIVE}%2Fx`, bearer(live))) // path_invalid
      await m([
        [':method', 'GET'],
        [':path', `/open/${LIVE}`],
        [':path', `/s/${GONE}/x`],
      ]) // request_malformed
      await m(get(`/open/${LIVE}`, { 'x-pad': `${MARK}${'p'.repeat(5000)}` })) // headers_too_large
      await send(mainClient, [
        { request_body: { body: Buffer.from(LIVE), end_of_stream: true } } as ProcessingRequest,
      ]) // protocol_error
      // overloaded: two undecided streams hold both slots.
      type Call = grpc.ClientDuplexStream<unknown, unknown>
      const held: Call[] = []
      for (let i = 0; i < 2; i++) {
        const c = (mainClient as unknown as { Process(): Call }).Process()
        c.on('error', () => {})
        held.push(c)
      }
      const deadline = Date.now() + 10_000
      while (main.server.activeStreams() < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await m(get(`/open/${LIVE}`)) // overloaded
      for (const c of held) c.cancel()
      // The other server: the registry is down, and a stream that says nothing times out.
      await send(downClient, [requestHeaders(get(`/s/${LIVE}/x`, bearer(live)))])
      const idle = (downClient as unknown as { Process(): Call }).Process()
      idle.on('error', () => {})
      await new Promise<void>((resolve) => {
        idle.on('data', () => resolve())
        idle.on('status', () => resolve())
      })
      idle.cancel()
    } finally {
      mainClient.close()
      downClient.close()
      await main.close()
      await down.close()
    }
    const all = (s: TestServer) => s.logs.lines.filter((l) => l.msg === 'decision')
    const lines = [...all(main), ...all(down)]
    const seen = new Set(lines.map((l) => String(l.reason)))
    const expected = Object.keys(REASONS).filter((r) => !(r in NOT_FROM_A_REQUEST))
    assert.deepEqual(
      expected.filter((r) => !seen.has(r)),
      [],
      'every deny reason a request can reach was driven',
    )
    assert.ok(seen.has('allowed') && seen.has('public'))
    const text = `${main.logs.text()}\n${down.logs.text()}`
    assert.ok(
      !text.includes(MARK),
      `a planted value was logged:\n${text
        .split('\n')
        .filter((l) => l.includes(MARK))
        .join('\n')}`,
    )
    for (const t of tokens) assert.ok(!text.includes(t), 'a token was logged')
    // The capture is there, as its keyed hash (the same for the session field).
    const allow = lines.find((l) => l.reason === 'allowed')
    assert.match(String(allow?.route), /^\/s\/\{session:[0-9a-f]{16}\}\/\*\*$/)
    assert.equal(allow?.route, `/s/{session:${allow?.session}}/**`)
    assert.ok(
      lines.every((l) => !('path' in l)),
      'no path field at all',
    )
  })
})
