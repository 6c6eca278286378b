import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { servingTlsFromPem } from '../../src/pki/serving-tls.js'

// The serving certificate must be one Envoy can verify: chained to our own trust domain's bundle
// and valid now. (test/fault/serving-cert.test.ts drives the rotation case through the server.)
describe('serving certificate checks', () => {
  let ca: Issued
  let other: Issued
  const DAY = 86_400_000
  const load = (leaf: Issued, bundles: Record<string, string>) =>
    servingTlsFromPem(
      Buffer.from(leaf.certPem),
      Buffer.from(leaf.keyPem),
      new Map(Object.entries(bundles)),
      ['example.org'],
      'test',
    )
  before(async () => {
    ca = await generateCa('example.org CA')
    other = await generateCa('other CA')
  })

  test('issued by its trust domain bundle CA: accepted', async () => {
    const leaf = await issueLeaf(ca, { uris: ['spiffe://example.org/authz'], dns: ['localhost'] })
    assert.ok(load(leaf, { 'example.org': ca.certPem }).cert.length > 0)
  })

  test('issued by another CA than its trust domain bundle: refused', async () => {
    const leaf = await issueLeaf(other, { uris: ['spiffe://example.org/authz'] })
    assert.throws(
      () => load(leaf, { 'example.org': ca.certPem, 'other.org': other.certPem }),
      /does not chain to the bundle of its trust domain example\.org/,
    )
  })

  test('expired or not yet valid: refused', async () => {
    const old = await issueLeaf(ca, {
      uris: ['spiffe://example.org/authz'],
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    })
    assert.throws(() => load(old, { 'example.org': ca.certPem }), /not valid now/)
    const early = await issueLeaf(ca, {
      uris: ['spiffe://example.org/authz'],
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 10 * DAY),
    })
    assert.throws(() => load(early, { 'example.org': ca.certPem }), /not valid now/)
  })

  test('no bundle for its own trust domain: only the validity period is checked', async () => {
    const leaf = await issueLeaf(other, { uris: ['spiffe://other.org/authz'] })
    assert.ok(load(leaf, { 'example.org': ca.certPem }).cert.length > 0)
    const dnsOnly = await issueLeaf(other, { dns: ['localhost'] })
    assert.ok(load(dnsOnly, { 'example.org': ca.certPem }).cert.length > 0)
    const expired = await issueLeaf(other, {
      dns: ['localhost'],
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    })
    assert.throws(() => load(expired, { 'example.org': ca.certPem }), /not valid now/)
  })
})
