import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  isValidTrustDomain,
  MAX_SPIFFE_ID_BYTES,
  matchesSpiffeId,
  parseSpiffeId,
  type SpiffeId,
  type SpiffeIdMatcher,
} from '../../src/identity/spiffe-id.js'

// Cases follow the SPIFFE ID standard (spiffe/spiffe standards/SPIFFE-ID.md §2) and the shapes in
// go-spiffe v2's spiffeid tests. Where the two differ (go-spiffe accepts an uppercase scheme and
// normalises it), this parser takes the stricter reading.

const label = (s: string) => (s.length > 60 ? `${s.slice(0, 40)}… (${s.length} chars)` : s)

const TD_255 = 'a'.repeat(255)
const ID_2048 = `spiffe://td/${'a'.repeat(MAX_SPIFFE_ID_BYTES - 'spiffe://td/'.length)}`

const valid: Array<[uri: string, trustDomain: string, path: string]> = [
  ['spiffe://example.org', 'example.org', ''],
  ['spiffe://example.org/workload', 'example.org', '/workload'],
  ['spiffe://domain.test/path/element', 'domain.test', '/path/element'],
  [
    'spiffe://k8s-west.example.com/ns/staging/sa/default',
    'k8s-west.example.com',
    '/ns/staging/sa/default',
  ],
  [
    'spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453',
    'example.com',
    '/9eebccd2-12bf-40a6-b262-65fe0487d453',
  ],
  ['spiffe://a-b_c.d0-9', 'a-b_c.d0-9', ''],
  ['spiffe://1.2.3.4/x', '1.2.3.4', '/x'], // §2.1: dotted-quad is not excluded
  ['spiffe://a', 'a', ''],
  ['spiffe://td/Path.With-Mixed_Case09', 'td', '/Path.With-Mixed_Case09'], // §2.4: path is case-sensitive
  ['spiffe://td/...', 'td', '/...'], // only "." and ".." are dot segments
  ['spiffe://td/.x/..y/x./y..', 'td', '/.x/..y/x./y..'],
  ['spiffe://td/spiffe/td', 'td', '/spiffe/td'],
  ['spiffe://td/a/b/c/d/e/f/g', 'td', '/a/b/c/d/e/f/g'],
  [`spiffe://${TD_255}`, TD_255, ''],
  [`spiffe://${TD_255}/x`, TD_255, '/x'],
  [ID_2048, 'td', ID_2048.slice('spiffe://td'.length)],
]

const invalid: Array<[name: string, uri: string, why: RegExp]> = [
  ['empty', '', /^empty$/],
  ['no scheme', 'example.org/x', /scheme/],
  ['wrong scheme', 'https://example.org/x', /scheme/],
  ['scheme prefix only', 'spiffex://example.org', /scheme/],
  ['uppercase scheme', 'SPIFFE://example.org/x', /scheme/],
  ['mixed-case scheme', 'Spiffe://example.org/x', /scheme/],
  ['leading space', ' spiffe://example.org', /scheme/],
  ['missing double slash', 'spiffe:path/element', /scheme/],
  ['single slash', 'spiffe:/example.org', /scheme/],
  ['not a URI', '192.168.2.2:6688', /scheme/],
  ['empty trust domain with path', 'spiffe:///path', /trust domain is empty/],
  ['empty trust domain', 'spiffe://', /trust domain is empty/],
  ['uppercase trust domain', 'spiffe://Example.org/x', /invalid character "E" at offset 9/],
  ['all-caps trust domain', 'spiffe://EXAMPLE.ORG', /invalid character "E"/],
  ['port', 'spiffe://example.org:8443/x', /port/],
  ['empty port', 'spiffe://example.org:/x', /port/],
  ['userinfo', 'spiffe://user@example.org/x', /userinfo/],
  ['userinfo with password', 'spiffe://user:password@test.org/path', /port|userinfo/],
  ['IPv6 literal', 'spiffe://[::1]/x', /invalid character "\["/],
  ['percent in trust domain', 'spiffe://exa%6Dple.org', /trust domain must not be percent-encoded/],
  ['space in trust domain', 'spiffe://exa mple.org', /invalid character " "/],
  ['query after trust domain', 'spiffe://example.org?x=1', /query/],
  ['fragment after trust domain', 'spiffe://example.org#x', /fragment/],
  ['non-ASCII trust domain', 'spiffe://exampl\u00e9.org', /invalid character "\u00e9"/],
  ['fullwidth dot in trust domain', 'spiffe://example\uff0eorg', /invalid character/],
  ['256-byte trust domain', `spiffe://${'a'.repeat(256)}`, /longer than 255/],
  ['256-byte trust domain with path', `spiffe://${'a'.repeat(256)}/x`, /longer than 255/],
  ['2049-byte ID', `${ID_2048}a`, /longer than 2048/],
  ['percent-encoded path', 'spiffe://example.org/a%2Fb', /percent-encoded/],
  ['percent-encoded path char', 'spiffe://domain.test/path/elem%5uent', /percent-encoded/],
  ['query', 'spiffe://example.org/x?y=1', /query/],
  ['empty query', 'spiffe://example.org/x?', /query/],
  ['fragment', 'spiffe://example.org/x#y', /fragment/],
  ['query then fragment', 'spiffe://domain.test/path/element?#fragment-1', /query/],
  ['trailing slash', 'spiffe://example.org/x/', /end with "\/"/],
  ['only a slash', 'spiffe://example.org/', /end with "\/"/],
  ['empty segment', 'spiffe://example.org/a//b', /empty path segment at offset 23/],
  ['leading empty segment', 'spiffe://example.org//a', /empty path segment/],
  ['dot segment', 'spiffe://example.org/a/./b', /"\." or "\.\." segment/],
  ['dot-dot segment', 'spiffe://example.org/a/../b', /"\." or "\.\." segment/],
  ['dot first', 'spiffe://example.org/./a', /"\." or "\.\." segment/],
  ['dot last', 'spiffe://example.org/a/.', /"\." or "\.\." segment/],
  ['dot-dot last', 'spiffe://example.org/..', /"\." or "\.\." segment/],
  ['space in path', 'spiffe://example.org/a b', /invalid character " "/],
  ['tab in path', 'spiffe://example.org/a\tb', /invalid character "\\t"/],
  ['newline in path', 'spiffe://example.org/a\nb', /invalid character "\\n"/],
  ['NUL in path', 'spiffe://example.org/a\u0000b', /invalid character/],
  ['colon in path', 'spiffe://domain.test/pa:th', /invalid character ":"/],
  ['@ in path', 'spiffe://domain.test/pa@th', /invalid character "@"/],
  ['sub-delims in path', "spiffe://domain.test/p!a$t&h'", /invalid character "!"/],
  ['plus in path', 'spiffe://example.org/a+b', /invalid character "\+"/],
  ['tilde in path', 'spiffe://example.org/~a', /invalid character "~"/],
  ['brackets in path', 'spiffe://domain.test/path/elem[ent', /invalid character "\["/],
  ['backslash in path', 'spiffe://example.org/a\\b', /invalid character "\\\\"/],
  ['non-ASCII path', 'spiffe://example.org/caf\u00e9', /invalid character "\u00e9"/],
  ['astral non-ASCII path', 'spiffe://example.org/\u{1f600}', /invalid character/],
]

describe('parseSpiffeId', () => {
  for (const [uri, trustDomain, path] of valid) {
    test(`valid: ${label(uri)}`, () => {
      const r = parseSpiffeId(uri)
      assert.ok(r.ok, r.ok ? '' : r.error)
      assert.deepEqual(r.id, { uri, trustDomain, path })
    })
  }

  for (const [name, uri, why] of invalid) {
    test(`invalid: ${name}`, () => {
      const r = parseSpiffeId(uri)
      assert.equal(r.ok, false)
      if (!r.ok) assert.match(r.error, why)
    })
  }

  test('boundaries are exact: 2048 bytes and a 255-byte trust domain', () => {
    assert.equal(ID_2048.length, MAX_SPIFFE_ID_BYTES)
    assert.ok(parseSpiffeId(ID_2048).ok)
    assert.equal(parseSpiffeId(`${ID_2048}a`).ok, false)
    assert.ok(parseSpiffeId(`spiffe://${TD_255}`).ok)
    assert.equal(parseSpiffeId(`spiffe://${TD_255}a`).ok, false)
  })

  test('the error names the character and its offset', () => {
    assert.deepEqual(parseSpiffeId('spiffe://exAmple.org'), {
      ok: false,
      error: 'trust domain contains invalid character "A" at offset 11',
    })
    assert.deepEqual(parseSpiffeId('spiffe://A'), {
      ok: false,
      error: 'trust domain contains invalid character "A" at offset 9',
    })
  })

  // Every ASCII character, in the trust domain and in a path segment (as go-spiffe's tests do).
  const TD_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789.-_'
  const PATH_CHARS = `${TD_CHARS}ABCDEFGHIJKLMNOPQRSTUVWXYZ`
  test('trust domain characters are exactly [a-z0-9._-]', () => {
    for (let code = 0; code < 0x80; code++) {
      const c = String.fromCharCode(code)
      if (c === '/') continue // ends the trust domain
      const r = parseSpiffeId(`spiffe://t${c}d/x`)
      assert.equal(r.ok, TD_CHARS.includes(c), `U+${code.toString(16).padStart(4, '0')}`)
      assert.equal(isValidTrustDomain(`t${c}d`), TD_CHARS.includes(c), `U+${code.toString(16)}`)
    }
  })
  test('path characters are exactly [a-zA-Z0-9._-]', () => {
    for (let code = 0; code < 0x80; code++) {
      const c = String.fromCharCode(code)
      if (c === '/') continue // separates segments
      const r = parseSpiffeId(`spiffe://td/x${c}y`)
      assert.equal(r.ok, PATH_CHARS.includes(c), `U+${code.toString(16).padStart(4, '0')}`)
    }
  })

  test('never throws on odd strings', () => {
    for (const s of ['\ud800', 'spiffe://\ud800', 'spiffe://td/\udfff', 'spiffe://td/\u0000']) {
      assert.equal(parseSpiffeId(s).ok, false)
    }
  })
})

describe('isValidTrustDomain', () => {
  const cases: Array<[string, boolean]> = [
    ['example.org', true],
    ['a', true],
    ['1.2.3.4', true],
    ['a_b-c.d', true],
    [TD_255, true],
    ['', false],
    ['Example.org', false],
    ['example.org:443', false],
    ['example.org/x', false],
    ['spiffe://example.org', false], // a bare name, not an ID
    ['user@example.org', false],
    ['exa mple.org', false],
    ['exa%6Dple.org', false],
    ['exampl\u00e9.org', false],
    [`${TD_255}a`, false],
  ]
  for (const [name, ok] of cases) {
    test(`${label(JSON.stringify(name))} -> ${ok}`, () =>
      assert.equal(isValidTrustDomain(name), ok))
  }
})

describe('matchesSpiffeId', () => {
  const id = (uri: string): SpiffeId => {
    const r = parseSpiffeId(uri)
    assert.ok(r.ok, uri)
    return r.id
  }
  const cases: Array<[name: string, matcher: SpiffeIdMatcher, uri: string, expected: boolean]> = [
    ['exact: same', { kind: 'exact', id: 'spiffe://td/a' }, 'spiffe://td/a', true],
    ['exact: longer', { kind: 'exact', id: 'spiffe://td/a' }, 'spiffe://td/a/b', false],
    ['exact: shorter', { kind: 'exact', id: 'spiffe://td/a/b' }, 'spiffe://td/a', false],
    ['exact: path case differs', { kind: 'exact', id: 'spiffe://td/a' }, 'spiffe://td/A', false],
    ['exact: other trust domain', { kind: 'exact', id: 'spiffe://td/a' }, 'spiffe://td2/a', false],
    ['exact: trust domain only', { kind: 'exact', id: 'spiffe://td' }, 'spiffe://td', true],
    ['exact: trust domain vs member', { kind: 'exact', id: 'spiffe://td' }, 'spiffe://td/a', false],
  ]
  const prod: SpiffeIdMatcher = { kind: 'prefix', prefix: 'spiffe://example.org/ns/prod' }
  cases.push(
    ['prefix: itself', prod, 'spiffe://example.org/ns/prod', true],
    ['prefix: below', prod, 'spiffe://example.org/ns/prod/sa/x', true],
    ['prefix: "production" is not under "prod"', prod, 'spiffe://example.org/ns/production', false],
    ['prefix: "prod-x" is not under "prod"', prod, 'spiffe://example.org/ns/prod-x/sa/y', false],
    ['prefix: "prod.x" is not under "prod"', prod, 'spiffe://example.org/ns/prod.x', false],
    ['prefix: shorter', prod, 'spiffe://example.org/ns/pro', false],
    ['prefix: parent', prod, 'spiffe://example.org/ns', false],
    ['prefix: other trust domain', prod, 'spiffe://example.org2/ns/prod/sa/x', false],
    ['prefix: case differs', prod, 'spiffe://example.org/ns/Prod/sa/x', false],
  )
  const td: SpiffeIdMatcher = { kind: 'prefix', prefix: 'spiffe://example.org' }
  cases.push(
    ['prefix of a trust domain: member', td, 'spiffe://example.org/a', true],
    ['prefix of a trust domain: itself', td, 'spiffe://example.org', true],
    ['prefix of a trust domain: longer name', td, 'spiffe://example.org.evil/a', false],
    ['prefix of a trust domain: suffix name', td, 'spiffe://example.organ/a', false],
  )
  // Callers normalise a trailing "/" away; left in, it matches nothing (fails closed).
  const slash: SpiffeIdMatcher = { kind: 'prefix', prefix: 'spiffe://example.org/ns/' }
  cases.push([
    'prefix with trailing slash matches nothing',
    slash,
    'spiffe://example.org/ns/x',
    false,
  ])
  const tdm: SpiffeIdMatcher = { kind: 'trust_domain', trustDomain: 'example.org' }
  cases.push(
    ['trust domain: member', tdm, 'spiffe://example.org/x', true],
    ['trust domain: itself', tdm, 'spiffe://example.org', true],
    ['trust domain: longer name', tdm, 'spiffe://example.org.evil/x', false],
    ['trust domain: subdomain', tdm, 'spiffe://sub.example.org/x', false],
    ['trust domain: shorter name', tdm, 'spiffe://example.or/x', false],
    ['trust domain: name in the path', tdm, 'spiffe://evil/example.org', false],
  )
  for (const [name, matcher, uri, expected] of cases) {
    test(name, () => assert.equal(matchesSpiffeId(id(uri), matcher), expected))
  }
})
