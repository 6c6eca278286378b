import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { writeLabPki } from '../../src/pki/lab-pki.js'
import { writeKeyPair } from '../../src/tokens/generate-keypair.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// `extproc-authz probe` as a user runs it (a child process), against the real server on port 0.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Async: the server answering the probe runs in this process. */
function probe(port: number, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'probe', '--target', `127.0.0.1:${port}`, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

const POLICY = `policy:
  rules:
    - name: api
      path: /api/**
      any_of:
        - spiffe: { trust_domains: [example.org] }
    - name: sessions
      path: /s/{session}
      any_of:
        - runner_token: { session_param: session }
`

describe('extproc-authz probe', () => {
  let dir: string
  let plain: TestServer
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'probe-'))
    await writeKeyPair(join(dir, 'keys', 'private.pem'), 2048)
    plain = await startTestServer(
      `runner_tokens:\n  private_keys: [${join(dir, 'keys', 'private.pem')}]\n${POLICY}`,
    )
  })
  after(() => plain.close())

  test('allow: exit 0, the identity header set and client copies removed', async () => {
    const r = await probe(plain.port, '--path', '/api/x', '--peer', 'spiffe://example.org/svc')
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0], 'allow')
    assert.ok(lines.includes('  set    x-spiffe-id: spiffe://example.org/svc'), r.stdout)
    assert.match(r.stdout, /^ {2}remove .*\bauthorization\b/m)
  })

  test('deny 403: exit 3 with the status, the reason from details, and the body', async () => {
    const r = await probe(plain.port, '--path', '/elsewhere', '--peer', 'spiffe://example.org/a')
    assert.equal(r.code, 3, r.stderr)
    assert.equal(
      r.stdout,
      'deny 403 no_matching_rule\n  body   {"error":"forbidden","reason":"no_matching_rule","request_id":null}\n',
    )
    const json = await probe(plain.port, '--path', '/elsewhere', '--json', '-H', 'x-request-id: r1')
    assert.equal(json.code, 3)
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>
    assert.equal(parsed.decision, 'deny')
    assert.equal(parsed.status, 403)
    assert.equal(parsed.reason, 'no_matching_rule')
    assert.equal(parsed.details, 'extproc_authz_no_matching_rule')
    assert.equal(JSON.parse(String(parsed.body)).request_id, 'r1', 'the -H header was sent')
  })

  test('--xfcc sends the peer in x-forwarded-client-cert, which this config ignores', async () => {
    const r = await probe(
      plain.port,
      '--path',
      '/api/x',
      '--peer',
      'spiffe://example.org/svc',
      '--xfcc',
    )
    assert.equal(r.code, 3)
    assert.match(r.stdout, /^deny 401 identity_missing/)
  })

  test('runner tokens: 401 without or with a bad token, allow with one encrypted by probe', async () => {
    const none = await probe(plain.port, '--path', '/s/abc')
    assert.equal(none.code, 3)
    assert.match(none.stdout, /^deny 401 token_missing\n/)
    const bad = await probe(plain.port, '--path', '/s/abc', '--bearer', 'bm90LWEtdG9rZW4=')
    assert.equal(bad.code, 3)
    assert.match(bad.stdout, /^deny 401 token_invalid\n/)
    const publicKey = join(dir, 'keys', 'public.pem')
    for (const extra of [[], ['--jwe']]) {
      const ok = await probe(
        plain.port,
        '--path',
        '/s/abc',
        '--token-session',
        'abc',
        '--public-key',
        publicKey,
        ...extra,
      )
      assert.equal(ok.code, 0, `${extra.join(' ')}: ${ok.stdout}${ok.stderr}`)
      assert.match(ok.stdout, /^ {2}set {4}x-runner-session-id: abc$/m)
      const other = await probe(
        plain.port,
        '--path',
        '/s/xyz',
        '--token-session',
        'abc',
        '--public-key',
        publicKey,
        ...extra,
      )
      assert.equal(other.code, 3)
      assert.match(other.stdout, /^deny 403 session_mismatch\n/)
    }
  })

  test('no processor: one line naming the target, exit 1', async () => {
    const closed = await startTestServer(POLICY.replace(/ {4}- name: sessions[\s\S]*/, ''))
    const port = closed.port
    await closed.close()
    const r = await probe(port, '--path', '/api/x', '--timeout', '3000')
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(`^extproc-authz probe: cannot reach the processor at 127\\.0\\.0\\.1:${port}`),
    )
  })

  describe('over mTLS', () => {
    let pki: string
    let tls: TestServer
    before(async () => {
      pki = join(dir, 'pki')
      await mkdir(pki)
      await writeLabPki({ dir: pki, trustDomain: 'example.org', leafDays: 2 })
      tls = await startTestServer(`tls:
  cert_file: ${join(pki, 'processor.pem')}
  key_file: ${join(pki, 'processor-key.pem')}
  bundles: { example.org: ${join(pki, 'bundle.pem')} }
  allowed_peers: [spiffe://example.org/envoy]
${POLICY.replace(/ {4}- name: sessions[\s\S]*/, '')}`)
    })
    after(() => tls.close())
    const as = (name: string) => [
      '--ca',
      join(pki, 'bundle.pem'),
      '--cert',
      join(pki, `${name}.pem`),
      '--key',
      join(pki, `${name}-key.pem`),
    ]

    test("with Envoy's SVID: the same decisions as in plaintext", async () => {
      const allow = await probe(
        tls.port,
        ...as('envoy'),
        '--path',
        '/api/x',
        '--peer',
        'spiffe://example.org/svc',
      )
      assert.equal(allow.code, 0, allow.stderr)
      assert.match(allow.stdout, /^allow\n {2}set {4}x-spiffe-id: spiffe:\/\/example\.org\/svc$/m)
      const deny = await probe(
        tls.port,
        ...as('envoy'),
        '--server-id',
        'spiffe://example.org/extproc-authz',
        '--path',
        '/elsewhere',
      )
      assert.equal(deny.code, 3, deny.stderr)
      assert.match(deny.stdout, /^deny 403 no_matching_rule\n/)
    })

    test('a peer the processor does not admit, plaintext, or the wrong server ID: exit 1', async () => {
      const runner = await probe(tls.port, ...as('client'), '--path', '/api/x', '--timeout', '3000')
      assert.equal(runner.code, 1, runner.stdout)
      assert.match(runner.stderr, /refused this client \(it admits only its tls\.allowed_peers/)
      const plaintext = await probe(tls.port, '--path', '/api/x', '--timeout', '3000')
      assert.equal(plaintext.code, 1, plaintext.stdout)
      const wrongId = await probe(
        tls.port,
        ...as('envoy'),
        '--server-id',
        'spiffe://example.org/someone-else',
        '--path',
        '/api/x',
        '--timeout',
        '3000',
      )
      assert.equal(wrongId.code, 1, wrongId.stdout)
      for (const r of [runner, plaintext, wrongId]) {
        assert.equal(r.stdout, '')
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      }
    })

    test('--json carries the allow and its mutations', async () => {
      const r = await probe(
        tls.port,
        ...as('envoy'),
        '--json',
        '--path',
        '/api/x',
        '--peer',
        'spiffe://example.org/svc',
      )
      assert.equal(r.code, 0, r.stderr)
      const parsed = JSON.parse(r.stdout) as {
        decision: string
        set_headers: Record<string, string>
      }
      assert.equal(parsed.decision, 'allow')
      assert.deepEqual(parsed.set_headers, { 'x-spiffe-id': 'spiffe://example.org/svc' })
    })
  })
})
