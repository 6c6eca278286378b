import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { generateCa, type Issued, issueIntermediate, issueLeaf } from '../../src/pki/generate.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// Real TLS 1.3 handshakes on loopback with certificates generated at test time. The cases both
// transports must answer alike (an admitted SVID, one from an intermediate CA, a wrong SPIFFE ID,
// no certificate, TLS 1.2) are in transport-parity.test.ts; these are the other refusals.
for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`channel mTLS (${transport}): X.509-SVID admission`, () => {
    let ts: TestServer
    let ca: Issued
    let otherCa: Issued
    const dir = mkdtempSync(join(tmpdir(), `mtls-${transport}-`))

    before(async () => {
      ca = await generateCa('example.org CA')
      otherCa = await generateCa('other.org CA')
      const server = await issueLeaf(ca, {
        uris: ['spiffe://example.org/extproc-authz'],
        dns: ['localhost'],
      })
      writeFileSync(join(dir, 'svid.pem'), server.certPem)
      writeFileSync(join(dir, 'svid_key.pem'), server.keyPem, { mode: 0o600 })
      writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
      writeFileSync(join(dir, 'other.pem'), otherCa.certPem)
      ts = await startTestServer(`
transport: ${transport}
admin: { listen: 127.0.0.1:0 }
tls:
  cert_file: ${join(dir, 'svid.pem')}
  key_file: ${join(dir, 'svid_key.pem')}
  bundles:
    example.org: ${join(dir, 'bundle.pem')}
    other.org: ${join(dir, 'other.pem')}
  allowed_peers: [spiffe://example.org/envoy]
policy:
  rules:
    - name: healthz
      path: /healthz
      public: true
`)
    })
    after(() => ts.close())

    async function call(creds: grpc.ChannelCredentials): Promise<grpc.status> {
      const client = newClient(ts.port, creds, { 'grpc.ssl_target_name_override': 'localhost' })
      try {
        const r = await exchange(
          client,
          [requestHeaders({ ':method': 'GET', ':path': '/healthz' })],
          {
            deadlineMs: 3000,
          },
        )
        return r.status.code
      } finally {
        client.close()
      }
    }
    const mtls = (leaf: Issued): grpc.ChannelCredentials =>
      grpc.credentials.createSsl(
        Buffer.from(ca.certPem),
        Buffer.from(leaf.keyPem),
        Buffer.from(leaf.certPem),
      )

    // A resumed TLS session presents the leaf alone: with resumption an intermediate-issued
    // Envoy would be refused on every reconnect (Envoy's upstream TLS resumes by default).
    it('offers no session resumption, so every connection presents its whole chain', async () => {
      const intermediate = await issueIntermediate(ca, 'example.org intermediate')
      const envoy = await issueLeaf(intermediate, { uris: ['spiffe://example.org/envoy'] })
      let session: Buffer | undefined
      const reused: boolean[] = []
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve) => {
          const socket = tls.connect({
            port: ts.port,
            host: '127.0.0.1',
            servername: 'localhost',
            ca: ca.certPem,
            cert: `${envoy.certPem}\n${intermediate.certPem}\n`,
            key: envoy.keyPem,
            ALPNProtocols: ['h2'],
            ...(session === undefined ? {} : { session }),
          })
          socket.on('secureConnect', () => reused.push(socket.isSessionReused()))
          socket.on('session', (s: Buffer) => {
            session = s
          })
          socket.on('error', () => {})
          socket.on('close', () => resolve())
          setTimeout(() => socket.destroy(), 200)
        })
      }
      assert.deepEqual(reused, [false, false])
    })

    it('refuses an intermediate-issued SVID whose chain leads to another trust domain', async () => {
      const intermediate = await issueIntermediate(otherCa, 'other.org intermediate')
      const forged = await issueLeaf(intermediate, { uris: ['spiffe://example.org/envoy'] })
      const chained = { ...forged, certPem: `${forged.certPem}\n${intermediate.certPem}\n` }
      assert.notEqual(await call(mtls(chained)), grpc.status.OK)
    })

    const refused: [string, () => Promise<Issued>][] = [
      [
        'SVID of another trust domain',
        () => issueLeaf(otherCa, { uris: ['spiffe://other.org/envoy'] }),
      ],
      ['no URI SAN', () => issueLeaf(ca, { dns: ['envoy'] })],
      [
        'expired',
        () =>
          issueLeaf(ca, {
            uris: ['spiffe://example.org/envoy'],
            notBefore: new Date(Date.now() - 2e6),
            notAfter: new Date(Date.now() - 1e6),
          }),
      ],
      [
        'CA certificate as leaf',
        () => issueLeaf(ca, { uris: ['spiffe://example.org/envoy'], ca: true }),
      ],
      [
        'two URI SANs',
        () => issueLeaf(ca, { uris: ['spiffe://example.org/envoy', 'spiffe://example.org/x'] }),
      ],
      [
        'foreign CA claiming example.org',
        () => issueLeaf(otherCa, { uris: ['spiffe://example.org/envoy'] }),
      ],
    ]
    for (const [name, make] of refused) {
      it(`refuses ${name}`, async () => {
        assert.notEqual(await call(mtls(await make())), grpc.status.OK)
      })
    }

    it('refuses a plaintext client', async () => {
      assert.notEqual(await call(grpc.credentials.createInsecure()), grpc.status.OK)
    })

    it('counts and logs refusals with the presented identity', () => {
      assert.ok(ts.server.peerStats.refused >= 2)
      assert.match(ts.logs.text(), /spiffe:\/\/other\.org\/envoy/)
      assert.ok((ts.server.certSecondsUntilExpiry() ?? 0) > 3600)
    })

    it('/metrics shows the refusals and the serving certificate expiry', async () => {
      const text = await (await fetch(`http://127.0.0.1:${ts.server.adminPort}/metrics`)).text()
      const value = (series: string) =>
        Number(
          text
            .split('\n')
            .find((l) => l.startsWith(`${series} `))
            ?.split(' ')[1],
        )
      assert.equal(value('extproc_authz_channel_peers_refused_total'), ts.server.peerStats.refused)
      assert.ok(value('extproc_authz_channel_peers_refused_total') >= 2)
      assert.equal(
        value('extproc_authz_channel_peer_refusals_not_logged_total'),
        ts.server.peerStats.notLogged,
      )
      assert.ok(value('extproc_authz_serving_certificate_expiry_seconds') > 3600)
    })
  })
}
