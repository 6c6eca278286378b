import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect, createServer, type TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'

// `certs generate`: leaf lifetime, PEM framing, the kept CA key, re-issue from it, and renewal
// only when due (what the compose lab's certs service runs at every start).

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const DAY_MS = 86_400_000
const LEAVES = ['envoy', 'processor', 'client']

function certs(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, 'certs', 'generate', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

function generate(...args: string[]): string {
  const r = certs(...args)
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8')
const cert = (dir: string, f: string) => new X509Certificate(read(dir, f))
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, read(dir, f)]))

/** Does a TLS server trusting `ca` accept a client presenting `dir`'s client SVID? */
function accepts(ca: string, serverDir: string, clientDir: string): Promise<boolean> {
  const server = createServer({
    cert: read(serverDir, 'envoy.pem'),
    key: read(serverDir, 'envoy-key.pem'),
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  })
  server.on('secureConnection', (s: TLSSocket) => s.end('ok'))
  server.on('tlsClientError', () => {})
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      const s = connect({
        host: '127.0.0.1',
        port,
        cert: read(clientDir, 'client.pem'),
        key: read(clientDir, 'client-key.pem'),
        rejectUnauthorized: false,
      })
      let data = ''
      s.on('data', (d: Buffer) => {
        data += d.toString()
      })
      const done = (ok: boolean) => {
        s.destroy()
        server.close()
        resolve(ok)
      }
      s.on('end', () => done(data === 'ok'))
      s.on('error', () => done(false))
    })
  })
}

describe('extproc-authz certs generate', () => {
  let tmp: string
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'certs-cli-'))
  })
  after(() => rm(tmp, { recursive: true, force: true }))

  test('writes the CA key (0600) beside the bundle, keys 0600, leaves valid 30 days by default', () => {
    const dir = join(tmp, 'default')
    const before = Date.now()
    assert.match(generate('--out', dir), /wrote lab PKI for example.org/)
    assert.deepEqual(readdirSync(dir).sort(), [
      'bundle.pem',
      'ca-key.pem',
      'client-key.pem',
      'client.pem',
      'envoy-key.pem',
      'envoy.pem',
      'processor-key.pem',
      'processor.pem',
    ])
    for (const f of readdirSync(dir)) {
      const mode = statSync(join(dir, f)).mode & 0o777
      if (f.endsWith('-key.pem')) assert.equal(mode & 0o077, 0, `${f} is private: ${mode}`)
    }
    assert.match(read(dir, 'ca-key.pem'), /^-----BEGIN PRIVATE KEY-----\n/)
    const ca = cert(dir, 'bundle.pem')
    assert.equal(ca.ca, true)
    for (const leaf of LEAVES) {
      const c = cert(dir, `${leaf}.pem`)
      assert.ok(c.verify(ca.publicKey), `${leaf} is issued by the bundle's CA`)
      const lifetime = Date.parse(c.validTo) - before
      assert.ok(lifetime > 29.9 * DAY_MS && lifetime < 30.1 * DAY_MS, `${leaf}: ${c.validTo}`)
    }
    assert.ok(Date.parse(ca.validTo) - before > 364 * DAY_MS, `CA until ${ca.validTo}`)
  })

  test('--days sets the leaf lifetime and is bounded', () => {
    const dir = join(tmp, 'days')
    const before = Date.now()
    generate('--out', dir, '--days', '2')
    const lifetime = Date.parse(cert(dir, 'envoy.pem').validTo) - before
    assert.ok(lifetime > 1.9 * DAY_MS && lifetime < 2.1 * DAY_MS, String(lifetime))
    for (const bad of ['0', '365', '1.5', 'x']) {
      const r = certs('--out', dir, '--days', bad)
      assert.equal(r.status, 2, bad)
      assert.match(r.stderr, /--days must be a whole number of days from 1 to 364/)
    }
  })

  test('every PEM ends with a newline: concatenated bundles keep every CA', async () => {
    const a = join(tmp, 'pem-a')
    const b = join(tmp, 'pem-b')
    generate('--out', a)
    generate('--out', b)
    for (const f of readdirSync(a)) assert.ok(read(a, f).endsWith('-----\n'), f)
    const both = read(a, 'bundle.pem') + read(b, 'bundle.pem')
    assert.equal(both.match(/^-----BEGIN CERTIFICATE-----$/gm)?.length, 2)
    // A TLS server trusting the concatenation admits clients of either CA (OpenSSL's parser
    // loses the second certificate of `-----END CERTIFICATE----------BEGIN ...`).
    assert.equal(await accepts(both, a, a), true, 'client of the first CA')
    assert.equal(await accepts(both, a, b), true, 'client of the second CA')
    assert.equal(await accepts(read(a, 'bundle.pem'), a, b), false, 'the check can fail')
  })

  test('--keep-ca re-issues every leaf from the same CA: the bundle does not change', () => {
    const dir = join(tmp, 'keep')
    generate('--out', dir)
    const first = snapshot(dir)
    assert.match(generate('--out', dir, '--keep-ca'), /re-issued the lab SVIDs/)
    const second = snapshot(dir)
    assert.equal(second['bundle.pem'], first['bundle.pem'])
    assert.equal(second['ca-key.pem'], first['ca-key.pem'])
    const ca = cert(dir, 'bundle.pem')
    for (const leaf of LEAVES) {
      assert.notEqual(second[`${leaf}.pem`], first[`${leaf}.pem`], `${leaf} is new`)
      assert.notEqual(second[`${leaf}-key.pem`], first[`${leaf}-key.pem`], `${leaf} key is new`)
      assert.ok(cert(dir, `${leaf}.pem`).verify(ca.publicKey))
    }
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
      'no temporary files left',
    )
  })

  test('--keep-ca refuses without a usable CA: missing key, or a key of another CA', () => {
    const dir = join(tmp, 'keep-missing')
    let r = certs('--out', dir, '--keep-ca')
    assert.equal(r.status, 1)
    assert.match(r.stderr, /--keep-ca: .*bundle\.pem is missing/)
    generate('--out', dir)
    const other = join(tmp, 'keep-other')
    generate('--out', other)
    r = certs('--out', dir, '--keep-ca', '--ca-key', join(other, 'ca-key.pem'))
    assert.equal(r.status, 1)
    assert.match(r.stderr, /does not match the CA certificate/)
    rmSync(join(dir, 'ca-key.pem'))
    r = certs('--out', dir, '--keep-ca')
    assert.equal(r.status, 1)
    assert.match(r.stderr, /ca-key\.pem is missing/)
  })

  test('--ca-key keeps the CA key outside the directory peers read', () => {
    const dir = join(tmp, 'cakey-out')
    const key = join(tmp, 'cakey-store', 'lab-ca-key.pem')
    generate('--out', join(tmp, 'cakey-store'), '--days', '1') // makes the key's directory
    generate('--out', dir, '--ca-key', key)
    assert.ok(!readdirSync(dir).includes('ca-key.pem'))
    assert.equal(statSync(key).mode & 0o077, 0)
    const bundle = read(dir, 'bundle.pem')
    generate('--out', dir, '--ca-key', key, '--keep-ca')
    assert.equal(read(dir, 'bundle.pem'), bundle)
  })

  test('--renew-within: fresh files are kept untouched; a leaf expiring within the margin is re-issued from the kept CA', () => {
    const dir = join(tmp, 'renew')
    generate('--out', dir)
    const fresh = snapshot(dir)
    assert.match(generate('--out', dir, '--renew-within', '7'), /kept the lab PKI/)
    assert.deepEqual(snapshot(dir), fresh)

    // A lab made a day before expiry (or left for weeks): the leaves are renewed, the CA stays.
    const due = join(tmp, 'renew-due')
    generate('--out', due, '--days', '3')
    const old = snapshot(due)
    const out = generate('--out', due, '--renew-within', '7')
    assert.match(out, /re-issued the lab SVIDs .* \(envoy\.pem expires /)
    const renewed = snapshot(due)
    assert.equal(renewed['bundle.pem'], old['bundle.pem'], 'the bundle is kept')
    for (const leaf of LEAVES) assert.notEqual(renewed[`${leaf}.pem`], old[`${leaf}.pem`])
    assert.ok(Date.parse(cert(due, 'envoy.pem').validTo) - Date.now() > 29 * DAY_MS)
    assert.match(generate('--out', due, '--renew-within', '7'), /kept the lab PKI/)
  })

  test('--renew-within acts on a missing leaf, another trust domain, or a lost CA key', () => {
    const dir = join(tmp, 'renew-broken')
    generate('--out', dir)
    const bundle = read(dir, 'bundle.pem')
    rmSync(join(dir, 'client-key.pem'))
    assert.match(generate('--out', dir, '--renew-within', '7'), /\(client is missing\)/)
    assert.equal(read(dir, 'bundle.pem'), bundle)
    assert.match(
      generate('--out', dir, '--renew-within', '7', '--trust-domain', 'other.test'),
      /envoy\.pem is not spiffe:\/\/other\.test\/envoy/,
    )
    assert.match(cert(dir, 'envoy.pem').subjectAltName ?? '', /URI:spiffe:\/\/other\.test\/envoy/)
    rmSync(join(dir, 'ca-key.pem'))
    assert.match(
      generate('--out', dir, '--renew-within', '7'),
      /wrote lab PKI for example.org .*ca-key\.pem is missing/,
    )
    assert.notEqual(read(dir, 'bundle.pem'), bundle, 'a new CA: the old one cannot issue')
    assert.equal(certs('--out', dir, '--renew-within', '30').status, 2, 'margin < lifetime')
  })
})
