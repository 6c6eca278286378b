import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { reloadConfigOnChange } from '../../src/app/reload-config.js'
import { createLogger } from '../../src/shared/logger.js'
import { createRunnerToken } from '../../src/tokens/runner.js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// The review's fail-open: serve without runner_tokens, then reload a config that adds them and a
// rule whose only alternative is a runner token. The policy used to be compiled without a
// runner-token compiler, the alternative came out empty, and an empty alternative allowed.
const key = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

const START = `
admin: { listen: 127.0.0.1:0 }
policy:
  rules:
    - { name: healthz, path: /healthz, public: true }
`
const withTokens = (keyFile: string, registry = '') => `
admin: { listen: 127.0.0.1:0 }
runner_tokens: { private_keys: [${keyFile}] }
${registry}
policy:
  rules:
    - { name: healthz, path: /healthz, public: true }
    - name: sessions
      path: /api/sessions/{session}/**
      any_of:
        - runner_token: { session_param: session }
`

describe('reload: a policy never goes live without the credentials its rules need', () => {
  let dir: string
  let file: string
  let srv: TestServer
  let client: grpc.Client
  let stop: () => void

  const ask = async (authorization?: string, session = 'sess-1') => {
    const { responses } = await exchange(client, [
      requestHeaders({
        ':method': 'GET',
        ':path': `/api/sessions/${session}/logs`,
        ...(authorization === undefined ? {} : { authorization }),
      }),
    ])
    const r = responses[0]
    if (r?.request_headers)
      return { allow: true, set: allowMutation(r).set, status: 200, reason: '' }
    const d = denyOf(r)
    return { allow: false, set: new Map<string, string>(), status: d.status, reason: d.reason }
  }
  /** Replaces the file as an editor does and waits for the reload's log line. */
  const reload = async (yaml: string, line: RegExp) => {
    const from = srv.logs.raw.length
    writeFileSync(join(dir, 'next.yaml'), yaml)
    renameSync(join(dir, 'next.yaml'), file)
    const deadline = Date.now() + 10_000
    while (!srv.logs.raw.slice(from).some((l) => line.test(l))) {
      if (Date.now() > deadline) throw new Error(`no ${line} in time:\n${srv.logs.text()}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    return srv.logs.raw.slice(from).join('\n')
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reload-creds-'))
    file = join(dir, 'config.yaml')
    writeFileSync(join(dir, 'key.pem'), key.privateKey, { mode: 0o600 })
    writeFileSync(join(dir, 'live.txt'), 'sess-2\n')
    writeFileSync(file, START)
    srv = await startTestServer(START)
    stop = reloadConfigOnChange(file, srv.server, createLogger('info', srv.logs), {
      listen: '127.0.0.1:0',
    })
    client = newClient(srv.port)
  })
  after(async () => {
    stop()
    client.close()
    await srv.close()
  })

  test('no route before the reload', async () => {
    assert.equal((await ask()).allow, false)
  })

  test('adding runner_tokens and a runner_token rule: no token, a bad token are denied', async () => {
    const logs = await reload(withTokens(join(dir, 'key.pem')), /config reloaded/)
    const none = await ask()
    assert.equal(none.allow, false, 'a request without any token was allowed')
    assert.doesNotMatch(logs, /only after a restart/)
    assert.deepEqual([none.status, none.reason], [401, 'token_missing'])
    const garbage = await ask('Bearer garbage')
    assert.equal(garbage.allow, false)
    assert.equal(garbage.reason, 'token_invalid')
    const good = await ask(`Bearer ${createRunnerToken(key.publicKey, 'sess-1')}`)
    assert.equal(good.allow, true)
    assert.equal(good.set.get('x-runner-session-id'), 'sess-1')
    assert.equal(srv.server.runnerTokens?.resolver.currentKeyring.keys.length, 1)
  })

  test('adding session_registry by reload applies it: a session not in the file is denied', async () => {
    const registry = `session_registry: { source: { kind: file, path: ${join(dir, 'live.txt')} } }`
    await reload(withTokens(join(dir, 'key.pem'), registry), /config reloaded/)
    const gone = await ask(`Bearer ${createRunnerToken(key.publicKey, 'sess-1')}`)
    assert.equal(gone.allow, false)
    assert.equal(gone.reason, 'session_not_live')
  })

  test('a reload whose keys cannot load is refused whole and counted; the last good state stays', async () => {
    const failedBefore = srv.server.reloads.failed
    const logs = await reload(
      withTokens(join(dir, 'missing.pem')).replace('- { name: healthz', '- { name: renamed'),
      /config not reloaded; keeping the last good one/,
    )
    assert.match(logs, /missing\.pem: cannot read/)
    assert.equal(srv.server.reloads.failed, failedBefore + 1)
    assert.equal(srv.server.currentConfig().policy.rules[0]?.name, 'healthz')
    const text = await (await fetch(`http://127.0.0.1:${srv.server.adminPort}/metrics`)).text()
    assert.match(text, /extproc_authz_config_reloads_total\{result="failed"\} [1-9]/)
    // The registry of the last good config still applies.
    const gone = await ask(`Bearer ${createRunnerToken(key.publicKey, 'sess-1')}`)
    assert.equal(gone.reason, 'session_not_live')
    const live = await ask(`Bearer ${createRunnerToken(key.publicKey, 'sess-2')}`, 'sess-2')
    assert.equal(live.allow, true)
  })

  test('dropping runner_tokens with their rules removes the keys too', async () => {
    await reload(START, /config reloaded/)
    assert.equal(srv.server.runnerTokens, undefined)
    assert.equal((await ask()).allow, false)
  })
})
