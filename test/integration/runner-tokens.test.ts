import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
} from 'node:crypto'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { EncryptJWT } from 'jose'
import { createRunnerJwe, createRunnerToken } from '../../src/tokens/runner.js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

function keypair(bits = 2048) {
  return generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
}

function openssl(): string {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' })
    return 'openssl'
  } catch {
    throw new Error(
      'the openssl CLI is required for interop tests (apt-get install openssl; .ci/run installs it)',
    )
  }
}

/** A token made by the openssl CLI, independently of Node's crypto API. */
function opensslToken(dir: string, publicPem: string, sessionId: string): string {
  const pub = join(dir, `pub-${Math.random()}.pem`)
  execFileSync('sh', ['-c', `cat > "${pub}"`], { input: publicPem })
  const out = execFileSync(
    openssl(),
    [
      'pkeyutl',
      '-encrypt',
      '-pubin',
      '-inkey',
      pub,
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
    ],
    { input: Buffer.from(sessionId, 'utf8') },
  )
  return out.toString('base64')
}

const A = keypair()
const B = keypair() // not in the keyring

describe('runner tokens through the real server', () => {
  let dir: string
  let srv: TestServer
  let client: grpc.Client
  const route = (session: string, token?: string, extra: Record<string, string> = {}) =>
    requestHeaders({
      ':method': 'GET',
      ':path': `/api/sessions/${session}/logs`,
      ':authority': 'api.example.org',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...extra,
    })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'extproc-tokens-'))
    // The current key as PKCS#1, to prove both PEM forms load.
    const pkcs1 = createPrivateKey(A.privateKey).export({ type: 'pkcs1', format: 'pem' })
    await writeFile(join(dir, 'current.pem'), pkcs1, { mode: 0o600 })
    srv = await startTestServer(`
runner_tokens:
  private_keys: [${join(dir, 'current.pem')}]
  cache: { negative_ttl_seconds: 0 }
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

  test('an openssl-made token for the path session is allowed; identity set, authorization stripped', async () => {
    const token = opensslToken(dir, A.publicKey, 'sess-42')
    const { responses } = await exchange(client, [
      route('sess-42', token, { 'x-runner-session-id': 'forged' }),
    ])
    const m = allowMutation(responses[0])
    assert.equal(m.set.get('x-runner-session-id'), 'sess-42')
    assert.ok(m.remove.includes('authorization'))
    assert.ok(m.remove.includes('x-spiffe-id'))
  })

  test('the server counts started streams for the resolver (its event-loop batching watches them)', async () => {
    const started = srv.server.runnerTokens?.resolver.streamsStarted
    assert.ok(started !== undefined, 'app/server.ts wires streamsStarted')
    const before = started()
    // Every stream counts, whatever it carries: no token, a malformed one.
    for (const token of [undefined, 'not-base64!', undefined]) {
      await exchange(client, [route('sess-count', token)])
    }
    assert.equal(started() - before, 3)
  })

  test('base64 alphabets and padding: standard, URL-safe, unpadded', async () => {
    const std = createRunnerToken(A.publicKey, 'sess-1')
    for (const t of [std, std.replace(/\+/g, '-').replace(/\//g, '_'), std.replace(/=+$/, '')]) {
      const { responses } = await exchange(client, [route('sess-1', t)])
      assert.equal(allowMutation(responses[0]).set.get('x-runner-session-id'), 'sess-1')
    }
  })

  test('JWE (RSA-OAEP-256) with exp is accepted; the claim must match the path', async () => {
    const jwe = await createRunnerJwe(A.publicKey, 'sess-7', { ttlSeconds: 60 })
    const ok = await exchange(client, [route('sess-7', jwe)])
    assert.equal(allowMutation(ok.responses[0]).set.get('x-runner-session-id'), 'sess-7')
    const other = await exchange(client, [route('sess-8', jwe)])
    assert.equal(denyOf(other.responses[0]).reason, 'session_mismatch')
  })

  test('expired JWE: 401 token_expired', async () => {
    const jwe = await new EncryptJWT({ sid: 'sess-7' })
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .encrypt(createPublicKey(A.publicKey))
    const d = denyOf((await exchange(client, [route('sess-7', jwe)])).responses[0])
    assert.equal(d.status, 401)
    assert.equal(d.reason, 'token_expired')
  })

  test('missing token: 401 token_missing; mismatch: 403 session_mismatch; bad format: 403', async () => {
    assert.equal(
      denyOf((await exchange(client, [route('s1')])).responses[0]).reason,
      'token_missing',
    )
    const t = createRunnerToken(A.publicKey, 's1')
    const mismatch = denyOf((await exchange(client, [route('s2', t)])).responses[0])
    assert.equal(mismatch.status, 403)
    assert.equal(mismatch.reason, 'session_mismatch')
    const weird = createRunnerToken(A.publicKey, 'bad id with spaces')
    const d = denyOf((await exchange(client, [route('x', weird)])).responses[0])
    assert.equal(d.status, 403)
    assert.equal(d.reason, 'session_id_invalid')
  })

  test('every decryption failure gives the byte-identical client response', async () => {
    const good = Buffer.from(createRunnerToken(A.publicKey, 'sess-1'), 'base64')
    const corrupted = Buffer.from(good)
    corrupted[100] = (corrupted[100] as number) ^ 0x01
    const nonUtf8 = publicEncrypt(
      { key: A.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from([0xff, 0xfe, 0x80]),
    ).toString('base64')
    const sha1Oaep = publicEncrypt(
      { key: A.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from('sess-1'),
    ).toString('base64')
    const otherAlgJwe = await new EncryptJWT({ sid: 'sess-1' })
      .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM' })
      .setExpirationTime('1h')
      .encrypt(createPublicKey(A.publicKey))
    const failures: Record<string, string> = {
      'not base64': '!!!not-base64!!!',
      'wrong key': createRunnerToken(B.publicKey, 'sess-1'),
      corrupted: corrupted.toString('base64'),
      truncated: good.subarray(0, 200).toString('base64'),
      oversize: 'A'.repeat(5000),
      'non-UTF-8 plaintext': nonUtf8,
      'SHA-1 OAEP': sha1Oaep,
      'JWE with alg RSA-OAEP': otherAlgJwe,
      'JWE garbage': 'a.b.c.d.e',
    }
    const bodies = new Set<string>()
    for (const [name, token] of Object.entries(failures)) {
      const { responses } = await exchange(client, [
        requestHeaders({
          ':method': 'GET',
          ':path': '/api/sessions/sess-1/x',
          ':authority': 'a',
          authorization: `Bearer ${token}`,
        }),
      ])
      const ir = responses[0]?.immediate_response
      assert.ok(ir, name)
      assert.equal(denyOf(responses[0]).reason, 'token_invalid', name)
      bodies.add(JSON.stringify(ir))
    }
    assert.equal(bodies.size, 1, `responses differ: ${[...bodies].join('\n')}`)
  })

  test('two Authorization headers: token_invalid', async () => {
    const t = createRunnerToken(A.publicKey, 'sess-1')
    const { responses } = await exchange(client, [
      requestHeaders([
        [':method', 'GET'],
        [':path', '/api/sessions/sess-1/x'],
        ['authorization', `Bearer ${t}`],
        ['authorization', `Bearer ${t}`],
      ]),
    ])
    assert.equal(denyOf(responses[0]).reason, 'token_invalid')
  })

  test('rotation: a new key is accepted once its file appears; the removed key stops working', async () => {
    const C = keypair()
    const oldToken = createRunnerToken(A.publicKey, 'rot-1')
    assert.equal(
      denyOf(
        (await exchange(client, [route('rot-1', createRunnerToken(C.publicKey, 'rot-1'))]))
          .responses[0],
      ).reason,
      'token_invalid',
    )
    // Write-then-rename, as secret volumes and key tools do: the new key replaces current.pem.
    await writeFile(join(dir, 'next.pem'), C.privateKey, { mode: 0o600 })
    await rename(join(dir, 'next.pem'), join(dir, 'current.pem'))
    // The directory watcher picks the new file up after its debounce; poll until it has.
    await waitUntil(
      async () =>
        (await exchange(client, [route('rot-2', createRunnerToken(C.publicKey, 'rot-2'))]))
          .responses[0]?.request_headers !== undefined,
      'the rotated key to be loaded',
    )
    const fresh = await exchange(client, [route('rot-3', createRunnerToken(C.publicKey, 'rot-3'))])
    assert.equal(allowMutation(fresh.responses[0]).set.get('x-runner-session-id'), 'rot-3')
    assert.equal(
      denyOf((await exchange(client, [route('rot-1', oldToken)])).responses[0]).reason,
      'token_invalid',
    )
    // A half-written key file never replaces the working keyring.
    await writeFile(join(dir, 'current.pem'), '-----BEGIN PRIVATE KEY-----\nMIIE')
    assert.equal(await srv.server.runnerTokens?.reload(), false)
    const still = await exchange(client, [route('rot-4', createRunnerToken(C.publicKey, 'rot-4'))])
    assert.equal(allowMutation(still.responses[0]).set.get('x-runner-session-id'), 'rot-4')
  })
})
