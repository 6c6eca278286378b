import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { FakeAgent } from '../helpers/fake-workload-api.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

function servedCertSerial(port: number, client: Issued, ca: Issued): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    })
    s.once('secureConnect', () => {
      resolve(s.getPeerCertificate().serialNumber)
      s.destroy()
    })
    s.once('error', reject)
  })
}

describe('serving SVID from the SPIFFE Workload API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wlapi-'))
  const socket = join(dir, 'agent.sock')
  const agent = new FakeAgent()
  let ca: Issued
  let envoy: Issued
  let srv: TestServer

  before(async () => {
    ca = await generateCa('example.org CA')
    envoy = await issueLeaf(ca, { uris: ['spiffe://example.org/envoy'] })
    agent.publish(
      ca,
      await issueLeaf(ca, { uris: ['spiffe://example.org/extproc-authz'], dns: ['localhost'] }),
      'spiffe://example.org/extproc-authz',
    )
    await agent.listen(socket)
    srv = await startTestServer(`
tls:
  workload_api: { socket: "unix://${socket}" }
  allowed_peers: [spiffe://example.org/envoy]
policy:
  rules: [{ name: h, path: /healthz, public: true }]
`)
  })
  after(async () => {
    await srv.close()
    agent.server.forceShutdown()
  })

  test('streams with the security header and rotates on every update, bundle included', async () => {
    assert.equal(agent.refusedWithoutHeader, 0)
    const first = await servedCertSerial(srv.port, envoy, ca)
    const next = await issueLeaf(ca, {
      uris: ['spiffe://example.org/extproc-authz'],
      dns: ['localhost'],
    })
    agent.publish(ca, next, 'spiffe://example.org/extproc-authz')
    const want = new X509Certificate(next.certPem).serialNumber
    const deadline = Date.now() + 5000
    let served = first
    while (served !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
      served = await servedCertSerial(srv.port, envoy, ca)
    }
    assert.notEqual(first, want)
    assert.equal(served, want, 'new connections get the rotated SVID')
    // A CA change arrives as one update (new SVID and new bundle together).
    const ca2 = await generateCa('example.org CA 2')
    const leaf2 = await issueLeaf(ca2, {
      uris: ['spiffe://example.org/extproc-authz'],
      dns: ['localhost'],
    })
    agent.publish(ca2, leaf2, 'spiffe://example.org/extproc-authz')
    const envoy2 = await issueLeaf(ca2, { uris: ['spiffe://example.org/envoy'] })
    const until = Date.now() + 5000
    let ok = false
    while (!ok && Date.now() < until) {
      ok = await servedCertSerial(srv.port, envoy2, ca2).then(
        () => true,
        () => false,
      )
      if (!ok) await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(ok, 'after a CA change the server serves the SVID chaining to the new CA')
    assert.ok(srv.server.certSecondsUntilExpiry() !== undefined)
  })
})

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

/** Runs the CLI to its exit (no wall-clock assertion: only a generous guard against a hang). */
function runCli(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (out += d))
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`still running after 90 s: ${args.join(' ')}\n${out}`))
    }, 90_000)
    child.on('exit', (code) => {
      clearTimeout(guard)
      resolve({ code, out })
    })
  })
}

describe('an unreachable Workload API fails the start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wlapi-down-'))
  const config = (timeout: number) => {
    const file = join(dir, `config-${timeout}.yaml`)
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
tls:
  workload_api: { socket: "unix://${join(dir, 'no-agent.sock')}", start_timeout_seconds: ${timeout} }
  allowed_peers: [spiffe://example.org/envoy]
policy:
  rules: [{ name: h, path: /healthz, public: true }]
`,
    )
    return file
  }

  test('serve, serve --workers 2 and config check exit 1 and say why', async () => {
    // Workers: longer than the primary's 5 s crash-loop window, so only the "exited before
    // serving" rule can end the start (before it, workers were restarted without end).
    const [serve, workers, check] = await Promise.all([
      runCli(['serve', '--config', config(1)]),
      runCli(['serve', '--config', config(6), '--workers', '2']),
      runCli(['config', 'check', config(1)]),
    ])
    for (const [name, r] of [
      ['serve', serve],
      ['serve --workers 2', workers],
      ['config check', check],
    ] as const) {
      assert.equal(r.code, 1, `${name} exit code; output:\n${r.out}`)
      assert.match(r.out, /no usable X\.509-SVID from the Workload API at unix:\/\/.*within/, name)
    }
    assert.match(serve.out, /Workload API stream failed; reconnecting/)
    assert.match(workers.out, /a worker exited before serving; start failed/)
    assert.match(check.out, /tls\.workload_api: no usable X\.509-SVID/)
  })
})
