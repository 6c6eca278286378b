import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import * as grpc from '@grpc/grpc-js'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { servedSerial } from '../helpers/served-serial.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

// Real files rewritten in place (as spiffe-helper does), real handshakes on loopback.
describe('serving certificate rotation from files', () => {
  let ts: TestServer
  let ca: Issued
  let envoy: Issued
  const dir = mkdtempSync(join(tmpdir(), 'rot-'))
  const certFile = join(dir, 'svid.pem')
  const keyFile = join(dir, 'svid_key.pem')

  const servingSerial = () =>
    servedSerial(ts.port, { ca: ca.certPem, cert: envoy.certPem, key: envoy.keyPem })

  before(async () => {
    ca = await generateCa('example.org CA')
    envoy = await issueLeaf(ca, { uris: ['spiffe://example.org/envoy'] })
    const srv = await issueLeaf(ca, {
      uris: ['spiffe://example.org/extproc-authz'],
      dns: ['localhost'],
    })
    writeFileSync(certFile, srv.certPem)
    writeFileSync(keyFile, srv.keyPem, { mode: 0o600 })
    writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
    ts = await startTestServer(`
tls:
  cert_file: ${certFile}
  key_file: ${keyFile}
  bundles:
    example.org: ${join(dir, 'bundle.pem')}
  allowed_peers: [example.org]
policy:
  rules:
    - name: healthz
      path: /healthz
      public: true
`)
  })
  after(() => ts.close())

  it('rotates under continuous requests with zero failed calls; mismatched pair never served', async () => {
    const client = newClient(
      ts.port,
      grpc.credentials.createSsl(
        Buffer.from(ca.certPem),
        Buffer.from(envoy.keyPem),
        Buffer.from(envoy.certPem),
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    )
    const before = await servingSerial()
    let failed = 0
    let done = 0
    let stop = false
    const loop = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        const r = await exchange(client, [
          requestHeaders({ ':method': 'GET', ':path': '/healthz' }),
        ])
        if (r.status.code !== grpc.status.OK) failed++
        done++
      }
    })()
    const next = await issueLeaf(ca, {
      uris: ['spiffe://example.org/extproc-authz'],
      dns: ['localhost'],
    })
    // spiffe-helper order: cert first, key later. The mismatched moment must not be served.
    writeFileSync(certFile, next.certPem)
    await sleep(400)
    assert.equal(await servingSerial(), before, 'mismatched pair replaced the working one')
    const t0 = Date.now()
    writeFileSync(keyFile, next.keyPem)
    let after = before
    await waitUntil(async () => {
      after = await servingSerial()
      return after !== before
    }, 'the rotated certificate to be served')
    const latency = Date.now() - t0
    stop = true
    await loop
    client.close()
    assert.notEqual(after, before, 'new connections get the new certificate')
    assert.equal(failed, 0)
    assert.ok(done > 0)
    process.stdout.write(`# rotation latency ${latency} ms, ${done} calls, ${failed} failed\n`)
  })
})
