import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { type PeerPolicy, verifyPeer } from '../../src/pki/verify-peer.js'
import { x509 } from '../../src/pki/x509.js'

const { KeyUsageFlags } = x509

const der = (i: Issued): Uint8Array => new Uint8Array(i.cert.rawData)

describe('verifyPeer (X.509-SVID rules, per-trust-domain bundles)', () => {
  let ca: Issued
  let otherCa: Issued
  let policy: PeerPolicy
  before(async () => {
    ca = await generateCa('example.org CA')
    otherCa = await generateCa('other.org CA')
    policy = {
      bundles: new Map([
        ['example.org', [new X509Certificate(ca.certPem)]],
        ['other.org', [new X509Certificate(otherCa.certPem)]],
      ]),
      allowed: [
        { kind: 'exact', id: 'spiffe://example.org/envoy' },
        { kind: 'trust_domain', trustDomain: 'other.org' },
      ],
    }
  })

  it('admits Envoy SVID', async () => {
    const leaf = await issueLeaf(ca, { uris: ['spiffe://example.org/envoy'] })
    assert.deepEqual(verifyPeer([der(leaf)], policy), {
      ok: true,
      spiffeId: 'spiffe://example.org/envoy',
    })
  })

  const refusals: [string, () => Promise<Issued>, RegExp][] = [
    [
      'non-allowed ID in allowed domain',
      () => issueLeaf(ca, { uris: ['spiffe://example.org/x'] }),
      /not allowed/,
    ],
    ['no URI SAN', () => issueLeaf(ca, { dns: ['envoy'] }), /0 URI SANs/],
    [
      'two URI SANs',
      () => issueLeaf(ca, { uris: ['spiffe://example.org/envoy', 'spiffe://example.org/b'] }),
      /2 URI SANs/,
    ],
    [
      'expired',
      () =>
        issueLeaf(ca, {
          uris: ['spiffe://example.org/envoy'],
          notBefore: new Date(Date.now() - 2e6),
          notAfter: new Date(Date.now() - 1e6),
        }),
      /chain not valid/,
    ],
    ['CA as leaf', () => issueLeaf(ca, { uris: ['spiffe://example.org/envoy'], ca: true }), /CA/],
    [
      'keyCertSign',
      () =>
        issueLeaf(ca, {
          uris: ['spiffe://example.org/envoy'],
          keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign,
        }),
      /keyCertSign/,
    ],
    [
      'other domain CA signing example.org ID',
      () => issueLeaf(otherCa, { uris: ['spiffe://example.org/envoy'] }),
      /chain not valid/,
    ],
    [
      'unknown trust domain',
      () => issueLeaf(ca, { uris: ['spiffe://evil.org/envoy'] }),
      /no bundle/,
    ],
    [
      // X509-SVID.md §2: a workload's ID has a path; other.org is allowed as a whole domain.
      'the bare trust domain ID of an allowed domain',
      () => issueLeaf(otherCa, { uris: ['spiffe://other.org'] }),
      /no path/,
    ],
    [
      'not a SPIFFE ID',
      () => issueLeaf(ca, { uris: ['https://example.org/envoy'] }),
      /not a SPIFFE ID/,
    ],
  ]
  for (const [name, make, reason] of refusals) {
    it(`refuses: ${name}`, async () => {
      const v = verifyPeer([der(await make())], policy)
      assert.equal(v.ok, false)
      if (!v.ok) assert.match(v.reason, reason)
    })
  }

  it('admits an SVID of another allowed trust domain against its own bundle', async () => {
    const leaf = await issueLeaf(otherCa, { uris: ['spiffe://other.org/svc'] })
    assert.equal(verifyPeer([der(leaf)], policy).ok, true)
  })

  it('refuses an empty chain', () => {
    assert.equal(verifyPeer([], policy).ok, false)
  })
})
