import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { issueLeaf, loadCa } from '../../src/pki/generate.js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { envoyBin, envoySkip, envoyValidate } from '../helpers/envoy.js'
import {
  hostHealth,
  overlaySdsBootstrap,
  overlaySdsResource,
  type RunningEnvoy,
  startEnvoy,
  until,
} from '../helpers/envoy-sds.js'
import { REPO_ROOT } from '../helpers/lab-files.js'

// The SDS configs under real Envoy. envoy/envoy-sds.yaml (SPIRE agent SDS) is validated as
// shipped; envoy/sds-path/envoy-sds-path.yaml (path-based SDS, envoy/sds-path/*.sds.yaml) runs on loopback with
// certificates from `certs generate`. First the processor channel: the real processor with the
// SVID SPIRE would issue it in Kubernetes (issued here from the kept lab CA), Envoy presenting
// its ns/gateway/sa/envoy SVID from SDS. Then the listener certificate and the trust bundle are
// rotated on disk while Envoy serves: new handshakes get the new certificate without a restart,
// and a bad or half-rotated file never replaces the working one. Every wait polls with a deadline.

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const PATH_CONFIG = join(REPO_ROOT, 'envoy', 'sds-path', 'envoy-sds-path.yaml')
const ROTATE_MS = 30_000 // bound on "without restart": Envoy reacts to the rename at once
const ENVOY_ID = 'spiffe://example.org/ns/gateway/sa/envoy'
const PROCESSOR_ID = 'spiffe://example.org/ns/extproc-authz/sa/extproc-authz'
const PROCESSOR_FQDN = 'extproc-authz.extproc-authz.svc.cluster.local'
const SVID_STATS = /^sds\..*\/sa\/envoy\.key_rotation_failed$/
const BUNDLE_STATS = /^sds\.spiffe_example\.org\.key_rotation_failed$/

function certs(...args: string[]): void {
  const r = spawnSync(process.execPath, [MAIN, 'certs', 'generate', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(r.status, 0, r.stderr)
}

const serialOf = (file: string) => new X509Certificate(readFileSync(file)).serialNumber

/** Replaces `file` by rename (what Envoy's SDS watch reacts to), from `text`. */
function renameIn(file: string, text: string | Buffer): void {
  writeFileSync(`${file}.next`, text)
  renameSync(`${file}.next`, file)
}

interface Handshake {
  readonly serial: string
  readonly fingerprint256: string
  /** The server certificate chains to `ca`. */
  readonly verified: boolean
  /** Envoy accepted our client certificate: an HTTP answer came back over the session. */
  readonly accepted: boolean
}

/** A fresh TLS 1.3 handshake with a client SVID from `clientDir`, then one HTTP/1.1 request. */
function handshake(
  port: number,
  clientDir: string,
  ca: string,
  path = '/healthz',
): Promise<Handshake & { response: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca,
      cert: readFileSync(join(clientDir, 'client.pem')),
      key: readFileSync(join(clientDir, 'client-key.pem')),
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
    })
    let peer: Omit<Handshake, 'accepted'> | undefined
    let data = ''
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')))
    s.once('secureConnect', () => {
      const c = s.getPeerX509Certificate()
      if (c === undefined) {
        s.destroy(new Error('no peer certificate'))
        return
      }
      peer = { serial: c.serialNumber, fingerprint256: c.fingerprint256, verified: s.authorized }
      s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    })
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1')
    })
    s.on('error', () => {}) // a refused client certificate: `close` follows, without an answer
    s.on('close', () => {
      if (peer === undefined) reject(new Error('no TLS session'))
      else resolve({ ...peer, accepted: data.startsWith('HTTP/1.1 '), response: data })
    })
  })
}

describe('Envoy SDS configs (real Envoy)', { skip: envoySkip, timeout: 240_000 }, () => {
  let tmp: string
  let certDir: string
  let sdsDir: string
  let envoy: RunningEnvoy | undefined
  let processor: ChildServer | undefined
  let refuser: Server
  const bundle = () => readFileSync(join(certDir, 'bundle.pem'), 'utf8')
  const served = () => handshake(envoy?.listenerPort ?? 0, certDir, bundle())
  /** Polls until the listener serves the certificate with `serial` to a verified handshake. */
  const untilServed = async (serial: string) => {
    const t0 = performance.now()
    const h = await until(`the listener to serve ${serial}`, ROTATE_MS, async () => {
      const h = await served()
      return h.serial === serial ? h : undefined
    })
    return { h, ms: Math.round(performance.now() - t0) }
  }

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'envoy-sds-'))
    certDir = join(tmp, 'certs')
    sdsDir = join(tmp, 'sds')
    await mkdir(sdsDir)
    certs('--out', certDir)
    // The Kubernetes identities (envoy-sds*.yaml pin them), issued from the lab CA certs kept.
    const ca = await loadCa(
      readFileSync(join(certDir, 'bundle.pem'), 'utf8'),
      readFileSync(join(certDir, 'ca-key.pem'), 'utf8'),
    )
    const envoySvid = await issueLeaf(ca, { uris: [ENVOY_ID], dns: ['localhost'] })
    renameIn(join(certDir, 'envoy-key.pem'), envoySvid.keyPem)
    renameIn(join(certDir, 'envoy.pem'), envoySvid.certPem)
    const procDir = join(tmp, 'processor')
    await mkdir(procDir)
    const procSvid = await issueLeaf(ca, { uris: [PROCESSOR_ID], dns: [PROCESSOR_FQDN] })
    writeFileSync(join(procDir, 'svid.pem'), procSvid.certPem)
    writeFileSync(join(procDir, 'svid-key.pem'), procSvid.keyPem, { mode: 0o600 })
    writeFileSync(join(procDir, 'bundle.pem'), ca.certPem)
    const procConfig = join(procDir, 'config.yaml')
    writeFileSync(
      procConfig,
      [
        'listen: 127.0.0.1:0',
        'transport: http2',
        'tls:',
        `  cert_file: ${join(procDir, 'svid.pem')}`,
        `  key_file: ${join(procDir, 'svid-key.pem')}`,
        `  bundles: { example.org: ${join(procDir, 'bundle.pem')} }`,
        `  allowed_peers: [${ENVOY_ID}]`,
        'shutdown: { drain_seconds: 0, grace_seconds: 1 }',
        'policy:',
        '  rules:',
        '    - { name: healthz, methods: [GET], path: /healthz, public: true }',
        '',
      ].join('\n'),
    )
    processor = await startChildServer(procConfig)
    for (const f of ['envoy-svid.sds.yaml', 'trust-bundle.sds.yaml']) {
      const shipped = readFileSync(join(REPO_ROOT, 'envoy', 'sds-path', f), 'utf8')
      writeFileSync(join(sdsDir, f), overlaySdsResource(shipped, certDir))
    }
    // The application: a port that resets every connection (an allowed request gets Envoy's
    // 503; any HTTP answer proves the TLS session was accepted).
    refuser = createServer((c) => c.resetAndDestroy())
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    await envoy?.stop()
    await processor?.stop()
    await new Promise((resolve) => refuser.close(resolve))
    if (process.env.LAB_KEEP !== '1') await rm(tmp, { recursive: true, force: true })
  })

  test('envoy --mode validate: envoy-sds.yaml (SPIRE agent SDS) as shipped', () => {
    const r = envoyValidate(join(REPO_ROOT, 'envoy', 'envoy-sds.yaml'))
    assert.ok(r.ok, r.output)
  })

  test('envoy --mode validate: envoy-sds-path.yaml with its SDS files in place (and without them, not)', () => {
    const shipped = readFileSync(PATH_CONFIG, 'utf8')
    const file = join(tmp, 'validate-path.yaml')
    writeFileSync(file, overlaySdsBootstrap(shipped, { sdsDir }))
    const r = envoyValidate(file)
    assert.ok(r.ok, r.output)
    // The check can fail: as shipped, /etc/envoy/sds does not exist here.
    const bare = envoyValidate(PATH_CONFIG)
    assert.equal(bare.ok, false)
    assert.match(bare.output, /\/etc\/envoy\/sds\/envoy-svid\.sds\.yaml' does not exist/)
  })

  test('Envoy on envoy-sds-path.yaml serves the SVID from the SDS files; admin on loopback', async () => {
    const shipped = readFileSync(PATH_CONFIG, 'utf8')
    const address = refuser.address()
    const app = typeof address === 'object' && address !== null ? address.port : 0
    const ports = { extproc_authz: processor?.port ?? 0, upstream: app }
    const config = join(tmp, 'envoy.yaml')
    writeFileSync(config, overlaySdsBootstrap(shipped, { sdsDir, loopback: { ports } }))
    envoy = await startEnvoy(envoyBin(), config, tmp)
    assert.match(envoy.admin, /^127\.0\.0\.1:\d+$/, 'admin bound to loopback')
    const { h } = await untilServed(serialOf(join(certDir, 'envoy.pem')))
    assert.equal(h.verified, true, 'chains to the bundle')
    assert.equal(h.accepted, true, 'the client SVID is accepted (HTTP answer)')
  })

  test('the processor channel over SDS secrets: health checks pass, the processor decides', async () => {
    assert.ok(envoy)
    const running = envoy
    // TLS 1.3 both ways, ALPN h2 on the health check, the processor pinned by its exact ID.
    await until('the processor host to be healthy', ROTATE_MS, async () => {
      const flags = await hostHealth(running.admin, 'extproc_authz')
      return flags.length === 1 && flags[0] === 'healthy' ? true : undefined
    })
    const denied = await handshake(running.listenerPort, certDir, bundle(), '/not-in-policy')
    assert.match(denied.response, /^HTTP\/1\.1 403 /)
    assert.match(denied.response, /"reason":"no_matching_rule"/)
    const allowed = await handshake(running.listenerPort, certDir, bundle(), '/healthz')
    assert.match(allowed.response, /^HTTP\/1\.1 503 /, 'allowed, then the application resets')
  })

  test('a re-issued listener certificate (certs generate --keep-ca) is served without restart', async (t) => {
    assert.ok(envoy)
    const before = serialOf(join(certDir, 'envoy.pem'))
    certs('--out', certDir, '--keep-ca')
    const next = serialOf(join(certDir, 'envoy.pem'))
    assert.notEqual(next, before)
    const { h, ms } = await untilServed(next)
    t.diagnostic(`new certificate served ${ms} ms after certs generate returned`)
    assert.equal(h.verified, true)
    assert.equal(h.accepted, true)
  })

  test('a bad certificate file, then a half-rotated pair, never replace the working one', async (t) => {
    assert.ok(envoy)
    const running = envoy
    const current = serialOf(join(certDir, 'envoy.pem'))
    const good = readFileSync(join(certDir, 'envoy.pem'))
    const failures = await running.stat(SVID_STATS)

    // 1. Garbage renamed over the certificate: Envoy tries, fails, keeps serving the old one.
    renameIn(join(certDir, 'envoy.pem'), 'not a certificate\n')
    await until('Envoy to refuse the bad file', ROTATE_MS, async () =>
      (await running.stat(SVID_STATS)) > failures ? true : undefined,
    )
    let h = await served()
    assert.equal(h.serial, current, 'still the last good certificate')
    assert.equal(h.verified && h.accepted, true)

    // 2. The next certificate arrives before its key (one file after another): a mismatched
    // pair, refused; the key completes it and the new certificate is served.
    const next = join(tmp, 'next')
    await mkdir(next)
    cpSync(join(certDir, 'bundle.pem'), join(next, 'bundle.pem'))
    certs('--out', next, '--ca-key', join(certDir, 'ca-key.pem'), '--keep-ca')
    const afterGarbage = await running.stat(SVID_STATS)
    renameIn(join(certDir, 'envoy.pem'), readFileSync(join(next, 'envoy.pem')))
    await until('Envoy to refuse the mismatched pair', ROTATE_MS, async () =>
      (await running.stat(SVID_STATS)) > afterGarbage ? true : undefined,
    )
    h = await served()
    assert.equal(h.serial, current, 'a certificate without its key is not served')
    renameIn(join(certDir, 'envoy-key.pem'), readFileSync(join(next, 'envoy-key.pem')))
    const { ms } = await untilServed(serialOf(join(next, 'envoy.pem')))
    t.diagnostic(`completed pair served ${ms} ms after the key's rename`)
    assert.notEqual(good.toString(), readFileSync(join(certDir, 'envoy.pem'), 'utf8'))
  })

  test('the trust bundle rotates too: a client of a new CA is admitted once its CA is in the bundle', async () => {
    assert.ok(envoy)
    const running = envoy
    const other = join(tmp, 'other-ca')
    certs('--out', other)
    const port = running.listenerPort
    const before = await handshake(port, other, bundle())
    assert.equal(before.accepted, false, 'a client of an unknown CA is refused')

    // Both CAs, concatenated (PEM files end with a newline), renamed into place.
    const both = bundle() + readFileSync(join(other, 'bundle.pem'), 'utf8')
    renameIn(join(certDir, 'bundle.pem'), both)
    await until('the new CA to be trusted', ROTATE_MS, async () =>
      (await handshake(port, other, both)).accepted ? true : undefined,
    )
    assert.equal((await handshake(port, certDir, both)).accepted, true, 'the old CA still is')

    // A bundle that does not parse keeps the last good one.
    const failures = await running.stat(BUNDLE_STATS)
    renameIn(join(certDir, 'bundle.pem'), '-----BEGIN CERTIFICATE-----\nnope\n')
    await until('Envoy to refuse the bad bundle', ROTATE_MS, async () =>
      (await running.stat(BUNDLE_STATS)) > failures ? true : undefined,
    )
    assert.equal((await handshake(port, other, both)).accepted, true)
    assert.equal((await handshake(port, certDir, both)).accepted, true)
  })
})
