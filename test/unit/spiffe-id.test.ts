import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  isValidTrustDomain,
  matchesSpiffeId,
  parseSpiffeId,
  type SpiffeId,
} from '../../src/identity/spiffe-id.js'

// Cases follow the SPIFFE ID standard (standards/SPIFFE-ID.md) and go-spiffe's spiffeid tests.
const valid: Array<[string, string, string]> = [
  ['spiffe://example.org', 'example.org', ''],
  ['spiffe://example.org/workload', 'example.org', '/workload'],
  ['spiffe://example.org/ns/prod/sa/api', 'example.org', '/ns/prod/sa/api'],
  ['spiffe://a-b_c.d0-9', 'a-b_c.d0-9', ''],
  ['spiffe://td/Path.With-Mixed_Case09', 'td', '/Path.With-Mixed_Case09'],
  ['spiffe://td/...', 'td', '/...'], // "..." is a valid segment; only "." and ".." are not
  ['spiffe://td/.x/..y', 'td', '/.x/..y'],
  [`spiffe://${'a'.repeat(255)}`, 'a'.repeat(255), ''],
]

const invalid: Array<[string, string, RegExp]> = [
  ['empty', '', /empty/],
  ['no scheme', 'example.org/x', /scheme/],
  ['wrong scheme', 'https://example.org/x', /scheme/],
  ['uppercase scheme', 'SPIFFE://example.org/x', /scheme/],
  ['single slash', 'spiffe:/example.org', /scheme/],
  ['empty trust domain', 'spiffe:///path', /trust domain is empty/],
  ['empty trust domain, no path', 'spiffe://', /trust domain is empty/],
  ['uppercase trust domain', 'spiffe://Example.org/x', /invalid character "E"/],
  ['port', 'spiffe://example.org:8443/x', /port/],
  ['userinfo', 'spiffe://user@example.org/x', /userinfo/],
  ['percent in trust domain', 'spiffe://exa%6Dple.org', /invalid character "%"/],
  ['percent-encoded path', 'spiffe://example.org/a%2Fb', /percent/],
  ['query', 'spiffe://example.org/x?y=1', /query/],
  ['fragment', 'spiffe://example.org/x#y', /fragment/],
  ['trailing slash', 'spiffe://example.org/x/', /end with "\/"/],
  ['only a slash', 'spiffe://example.org/', /end with "\/"/],
  ['empty segment', 'spiffe://example.org/a//b', /empty segment/],
  ['dot segment', 'spiffe://example.org/a/./b', /"\." or "\.\."/],
  ['dot-dot segment', 'spiffe://example.org/a/../b', /"\." or "\.\."/],
  ['dot-dot last', 'spiffe://example.org/..', /"\." or "\.\."/],
  ['space in path', 'spiffe://example.org/a b', /invalid character " "/],
  ['plus in path', 'spiffe://example.org/a+b', /invalid character "\+"/],
  ['non-ASCII path', 'spiffe://example.org/caf\u00e9', /invalid character/],
  ['non-ASCII trust domain', 'spiffe://exampl\u00e9.org', /invalid character/],
  ['256-byte trust domain', `spiffe://${'a'.repeat(256)}`, /longer than 255/],
  ['2049-byte ID', `spiffe://td/${'a'.repeat(2049 - 12)}`, /longer than 2048/],
]

describe('parseSpiffeId', () => {
  for (const [uri, trustDomain, path] of valid) {
    test(`valid: ${uri.length > 60 ? `${uri.slice(0, 40)}…` : uri}`, () => {
      const r = parseSpiffeId(uri)
      assert.ok(r.ok, r.ok ? '' : r.error)
      assert.deepEqual(r.id, { uri, trustDomain, path })
    })
  }

  test('exactly 2048 bytes is accepted', () => {
    const uri = `spiffe://td/${'a'.repeat(2048 - 12)}`
    assert.equal(uri.length, 2048)
    assert.ok(parseSpiffeId(uri).ok)
  })

  for (const [name, uri, why] of invalid) {
    test(`invalid: ${name}`, () => {
      const r = parseSpiffeId(uri)
      assert.equal(r.ok, false)
      if (!r.ok) assert.match(r.error, why)
    })
  }

  test('isValidTrustDomain', () => {
    assert.ok(isValidTrustDomain('example.org'))
    for (const bad of ['', 'Example.org', 'a:1', 'a/b', 'x'.repeat(256)]) {
      assert.equal(isValidTrustDomain(bad), false, bad)
    }
  })
})

describe('matchesSpiffeId', () => {
  const id = (uri: string): SpiffeId => {
    const r = parseSpiffeId(uri)
    assert.ok(r.ok)
    return r.id
  }
  test('exact', () => {
    assert.ok(matchesSpiffeId(id('spiffe://td/a'), { kind: 'exact', id: 'spiffe://td/a' }))
    assert.ok(!matchesSpiffeId(id('spiffe://td/a/b'), { kind: 'exact', id: 'spiffe://td/a' }))
  })
  test('prefix is segment-aware', () => {
    const m = { kind: 'prefix', prefix: 'spiffe://td/ns/prod' } as const
    assert.ok(matchesSpiffeId(id('spiffe://td/ns/prod'), m))
    assert.ok(matchesSpiffeId(id('spiffe://td/ns/prod/sa/x'), m))
    assert.ok(!matchesSpiffeId(id('spiffe://td/ns/production'), m))
    assert.ok(!matchesSpiffeId(id('spiffe://td/ns/pro'), m))
    assert.ok(!matchesSpiffeId(id('spiffe://td2/ns/prod'), m))
  })
  test('trust domain', () => {
    const m = { kind: 'trust_domain', trustDomain: 'example.org' } as const
    assert.ok(matchesSpiffeId(id('spiffe://example.org/x'), m))
    assert.ok(matchesSpiffeId(id('spiffe://example.org'), m))
    assert.ok(!matchesSpiffeId(id('spiffe://example.org.evil/x'), m))
    assert.ok(!matchesSpiffeId(id('spiffe://sub.example.org/x'), m))
  })
})
