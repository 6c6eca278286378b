import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { createRunnerJwe, createRunnerToken } from '../../src/tokens/runner.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer } from '../helpers/test-server.js'

const k = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

for (const level of ['debug', 'trace'] as const) {
  describe(`no secret in any log line at ${level} level`, () => {
    test('every path: allow, each deny, malformed, cancel, key reload good and bad', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'log-secrets-'))
      writeFileSync(join(dir, 'key.pem'), k.privateKey)
      const srv = await startTestServer(
        `
runner_tokens: { private_keys: [${join(dir, 'key.pem')}], cache: { negative_ttl_seconds: 0 } }
policy:
  rules:
    - { name: s, path: "/s/{session}", any_of: [{ runner_token: { session_param: session } }] }
`,
        { level },
      )
      const client = newClient(srv.port)
      const raw = createRunnerToken(k.publicKey, 'secret-session-1')
      const jwe = await createRunnerJwe(k.publicKey, 'secret-session-2', { ttlSeconds: 60 })
      const wrongKey = createRunnerToken(
        generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
        'x',
      )
      // Session ids too: the route prints the template with the capture's keyed hash, and the
      // session field is that hash.
      const cookie = 'session=cookie-secret-value'
      const secrets = [
        raw,
        jwe,
        wrongKey,
        cookie,
        'cookie-secret-value',
        'query-secret',
        'secret-session',
      ]
      const send = (path: string, token?: string) =>
        exchange(client, [
          requestHeaders({
            ':method': 'GET',
            ':path': path,
            cookie,
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          }),
        ])
      try {
        await send('/s/secret-session-1?token=query-secret', raw) // allow (raw)
        await send('/s/secret-session-2', jwe) // allow (JWE)
        await send('/s/secret-session-1', raw) // allow, cached
        await send('/s/other', raw) // session_mismatch
        await send('/s/x', wrongKey) // token_invalid
        await send('/s/x', `${raw}garbage`) // token_invalid
        await send('/s/x') // token_missing
        await send('/nope?token=query-secret', raw) // no_matching_rule
        await exchange(client, [{}]) // protocol error
        const call = (
          client as unknown as { Process(): grpc.ClientDuplexStream<unknown, unknown> }
        ).Process()
        call.on('error', () => {})
        call.write(
          requestHeaders(
            { ':method': 'GET', ':path': '/s/a', authorization: `Bearer ${raw}` },
            { endOfStream: false },
          ),
        )
        call.cancel()
        assert.equal(await srv.server.runnerTokens?.reload(), true)
        writeFileSync(join(dir, 'key.pem'), `${k.privateKey.slice(0, 200)}`)
        assert.equal(await srv.server.runnerTokens?.reload(), false)
        await new Promise((r) => setTimeout(r, 100))
      } finally {
        client.close()
        await srv.close()
      }
      const text = srv.logs.text()
      assert.ok(srv.logs.raw.length >= 10, `expected decision lines, got ${srv.logs.raw.length}`)
      for (const s of secrets)
        assert.ok(!text.includes(s), `log contains a secret (${s.slice(0, 12)}…)`)
      // Nothing that looks like key material or a long base64 blob either.
      assert.doesNotMatch(text, /PRIVATE KEY|[A-Za-z0-9+/_-]{200,}/)
      const allow = srv.logs.lines.find((l) => l.decision === 'allow')
      assert.match(String(allow?.session), /^[0-9a-f]{16}$/, 'session ids are logged hashed')
      assert.equal(allow?.route, `/s/{session:${allow?.session}}`)
      assert.equal(allow?.path, undefined)
    })
  })
}
