import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { servedSerial } from '../helpers/served-serial.js'
import { requestMix, runnerKey, tempDir, writeConfig } from './fixture.js'
import type { World } from './oracle.js'
import { assertFailClosed, type SteadyLoad, startSteadyLoad } from './steady-load.js'

// The mTLS channel (Envoy -> processor) while its serving certificate is rewritten under load,
// in spiffe-helper's order (certificate first, key later). A new certificate from the bundle's CA
// rotates in; one from a CA Envoy does not trust must be refused, keeping the working one.
const ROTATED = /serving certificate rotated/
const KEPT = /TLS files not \(yet\) usable; keeping the working pair/
const SERVER_ID = 'spiffe://example.org/extproc-authz'

describe('fault injection: serving certificate rotated mid-load (real server process, mTLS)', () => {
  const A = runnerKey('A')
  const dir = tempDir()
  const certFile = join(dir, 'svid.pem')
  const keyFile = join(dir, 'svid_key.pem')
  const world: World = { keys: new Map([['A', 'in']]), policy: 'v1', epoch: 0 }
  let ca: Issued
  let envoy: Issued
  let server: ChildServer
  let client: grpc.Client
  let load: SteadyLoad

  const credentials = () =>
    grpc.credentials.createSsl(
      Buffer.from(ca.certPem),
      Buffer.from(envoy.keyPem),
      Buffer.from(envoy.certPem),
    )
  const options = { 'grpc.ssl_target_name_override': 'localhost' }
  /** A fresh handshake, trusting only the bundle CA (as Envoy does): the serial it is shown. */
  const servingSerial = () =>
    servedSerial(server.port, { ca: ca.certPem, cert: envoy.certPem, key: envoy.keyPem })
  const serialOf = (i: Issued) => new X509Certificate(i.certPem).serialNumber
  /** A new client (new connection) must get decisions over the current certificate. */
  const freshClientDecides = async () => {
    const c = newClient(server.port, credentials(), options)
    const r = await exchange(c, [requestHeaders({ ':method': 'GET', ':path': '/healthz' })])
    c.close()
    assert.ok(r.responses[0]?.request_headers, `fresh connection: ${r.status.details}`)
  }
  const rewrite = async (leaf: Issued, expect: RegExp) => {
    writeFileSync(certFile, leaf.certPem)
    await new Promise((r) => setTimeout(r, 50)) // spiffe-helper writes the files one by one
    const mark = server.mark()
    writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 })
    await server.waitFor(expect, 20_000, mark)
  }
  const serverLeaf = (issuer: Issued) =>
    issueLeaf(issuer, { uris: [SERVER_ID], dns: ['localhost'] })

  before(async () => {
    ca = await generateCa('example.org CA')
    envoy = await issueLeaf(ca, { uris: ['spiffe://example.org/envoy'] })
    const first = await serverLeaf(ca)
    writeFileSync(certFile, first.certPem)
    writeFileSync(keyFile, first.keyPem, { mode: 0o600 })
    writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
    writeFileSync(join(dir, 'runner.pem'), A.privateKey, { mode: 0o600 })
    const tls = `  cert_file: ${certFile}
  key_file: ${keyFile}
  bundles: { example.org: ${join(dir, 'bundle.pem')} }
  allowed_peers: [spiffe://example.org/envoy]
`
    server = await startChildServer(writeConfig(dir, { keyFile: join(dir, 'runner.pem'), tls }))
    client = newClient(server.port, credentials(), options)
    load = startSteadyLoad(client, world, requestMix(A, []))
    await load.allowedAgain('spiffe-allowed', 0)
  })
  after(async () => {
    await load?.stop()
    client?.close()
    assert.equal(await server?.stop(), 0, 'clean exit after SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  test('a new certificate from the same CA rotates in; load carries on', async () => {
    const next = await serverLeaf(ca)
    await rewrite(next, ROTATED)
    assert.equal(await servingSerial(), serialOf(next))
    await freshClientDecides()
    await load.allowedAgain('spiffe-allowed', Date.now())
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
  })

  test('a certificate from a wrong CA is refused; the working one stays; then recovery', async () => {
    const working = await servingSerial()
    const wrong = await serverLeaf(await generateCa('some other CA'))
    await rewrite(wrong, KEPT)
    assert.equal(await servingSerial(), working, 'new handshakes still get the working cert')
    await freshClientDecides()
    await load.allowedAgain('spiffe-allowed', Date.now())
    // Recovery: a good certificate arrives and rotates in.
    const good = await serverLeaf(ca)
    await rewrite(good, ROTATED)
    assert.equal(await servingSerial(), serialOf(good))
    await freshClientDecides()
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
  })
})
