import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { createRunnerToken } from '../../src/tokens/runner.js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

describe('session liveness from a watched file', () => {
  let dir: string
  let srv: TestServer
  let client: grpc.Client
  const ask = async (session: string) =>
    (
      await exchange(client, [
        requestHeaders({
          ':method': 'GET',
          ':path': `/api/sessions/${session}/x`,
          authorization: `Bearer ${createRunnerToken(publicKey, session)}`,
        }),
      ])
    ).responses[0]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'liveness-'))
    await writeFile(join(dir, 'key.pem'), privateKey, { mode: 0o600 })
    await writeFile(join(dir, 'live.txt'), '# live sessions\nsess-a\nsess-b\n')
    srv = await startTestServer(`
runner_tokens:
  private_keys: [${join(dir, 'key.pem')}]
session_registry:
  source: { kind: file, path: ${join(dir, 'live.txt')} }
policy:
  rules:
    - name: sessions
      path: /api/sessions/{session}/**
      any_of:
        - runner_token: { session_param: session }
`)
    client = newClient(srv.port)
  })
  after(async () => {
    client.close()
    await srv.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('a live session passes; one not in the registry is 403 session_not_live', async () => {
    assert.equal(allowMutation(await ask('sess-a')).set.get('x-runner-session-id'), 'sess-a')
    const d = denyOf(await ask('sess-zzz'))
    assert.equal(d.status, 403)
    assert.equal(d.reason, 'session_not_live')
  })

  test('a session that ends upstream is denied once the file is swapped; a broken file changes nothing', async () => {
    await writeFile(join(dir, 'live.next'), 'sess-b\nsess-c\n')
    await rename(join(dir, 'live.next'), join(dir, 'live.txt'))
    await waitUntil(
      async () => (await ask('sess-a'))?.request_headers === undefined,
      'the swapped file to be loaded',
    )
    assert.equal(denyOf(await ask('sess-a')).reason, 'session_not_live')
    assert.equal(allowMutation(await ask('sess-c')).set.get('x-runner-session-id'), 'sess-c')
    await writeFile(join(dir, 'live.txt'), 'sess-b\nnot a valid id!\n')
    // Wait until the watcher has read (and refused) the broken file, so the check below counts.
    await waitUntil(
      () => srv.logs.text().includes('keeping the last good set'),
      'the broken file to be refused',
    )
    assert.match(srv.logs.text(), /session registry file not reloaded; keeping the last good set/)
    assert.equal(allowMutation(await ask('sess-c')).set.get('x-runner-session-id'), 'sess-c')
  })
})
