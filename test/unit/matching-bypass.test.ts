import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MAX_AUTHORITY_LENGTH } from '../../src/authz/authority.js'
import { authorize } from '../../src/authz/authorize.js'
import { compilePolicy, PolicyCompileError } from '../../src/authz/compile-policy.js'
import type { Decision } from '../../src/authz/decision.js'
import { REASONS } from '../../src/authz/reasons.js'
import { parseConfig } from '../../src/config/load-config.js'
import { CONDITION_KINDS } from '../../src/config/schema.js'
import { buildRequestFacts, factMemoBytes } from '../../src/extproc/build-request-facts.js'
import type { HeaderField } from '../../src/extproc/codec/processing-request.js'

// Issue 20, item 1: each spelling below stepped around a rule (a deny skipped, a broader allow
// reached) before matching was tightened. Every request goes through the server's own fact
// building and authorize(), with the policy loaded through the config schema.

function policyOf(rules: string) {
  const config = parseConfig(`policy:\n  rules:\n${rules}`, 'test.yaml')
  return compilePolicy(config.policy, CONDITION_KINDS)
}

interface Outcome {
  readonly allow: boolean
  readonly reason: string
  readonly status: number
  readonly rule: string | undefined
}

function decide(
  rules: ReturnType<typeof policyOf>,
  req: { method?: string; path: string; authority?: string | readonly string[] },
): Outcome {
  const headers: HeaderField[] = [
    { name: ':method', value: req.method ?? 'GET' },
    { name: ':path', value: req.path },
  ]
  const authorities = req.authority ?? 'api.example.org'
  for (const a of typeof authorities === 'string' ? [authorities] : authorities) {
    headers.push({ name: ':authority', value: a })
  }
  const built = buildRequestFacts(headers, undefined, { xfcc: false })
  if (!built.ok) return { allow: false, reason: 'request_malformed', status: 400, rule: undefined }
  const d = authorize(built.facts, rules) as Decision
  assert.ok(!(d instanceof Promise), 'no runner tokens here: the decision is synchronous')
  return d.allow
    ? { allow: true, reason: d.reason, status: 200, rule: d.rule }
    : { allow: false, reason: d.reason, status: REASONS[d.reason].status, rule: d.rule }
}

describe('trailing slash: one is not significant, for every template kind, allow and deny alike', () => {
  const policy = policyOf(`    - name: internal
      path: /api/internal
      deny: true
    - name: jobs
      path: /api/jobs/*
      deny: true
    - name: users
      path: /api/users/{id}
      deny: true
    - name: health
      path: /healthz
      public: true
    - name: api
      path: /api/**
      public: true
`)
  const cases: Array<[path: string, rule: string | undefined, reason: string]> = [
    ['/api/internal', 'internal', 'rule_denies'],
    ['/api/internal/', 'internal', 'rule_denies'],
    ['/api/internal/?q=1', 'internal', 'rule_denies'],
    ['/api/jobs/1', 'jobs', 'rule_denies'],
    ['/api/jobs/1/', 'jobs', 'rule_denies'],
    ['/api/users/7', 'users', 'rule_denies'],
    ['/api/users/7/', 'users', 'rule_denies'],
    ['/healthz', 'health', 'public'],
    ['/healthz/', 'health', 'public'],
    ['/api/', 'api', 'public'],
    ['/api/other/', 'api', 'public'],
    ['/api/internal//', undefined, 'path_invalid'],
    ['/api/internal/x', 'api', 'public'],
  ]
  for (const [path, rule, reason] of cases) {
    test(`${path} -> ${rule ?? '-'} ${reason}`, () => {
      const o = decide(policy, { path })
      assert.equal(o.reason, reason)
      assert.equal(o.rule, rule)
    })
  }
})

describe('methods: anything but an upper-case RFC 9110 token is refused before matching', () => {
  const policy = policyOf(`    - name: no-delete
      methods: [DELETE]
      path: /api/**
      deny: true
    - name: api
      path: /api/**
      public: true
`)
  const refused = [
    'delete',
    'Delete',
    'DELETe',
    'DELETE ',
    ' DELETE',
    'DEL ETE',
    'DELETE\t',
    'DELETE\u0000',
    'DELET\u00c9',
    'GET/',
    'GET(',
    'GET"',
    'G,ET',
    '',
    'A'.repeat(33),
  ]
  for (const method of refused) {
    test(`${JSON.stringify(method)} -> 400 method_invalid`, () => {
      const o = decide(policy, { method, path: '/api/x' })
      assert.deepEqual([o.allow, o.status, o.reason], [false, 400, 'method_invalid'])
    })
  }
  test('an invalid method is not carried in the facts (so never logged)', () => {
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'delete\u0000secret' },
        { name: ':path', value: '/api/x' },
        { name: ':authority', value: 'api.example.org' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.ok(built.ok)
    assert.equal(built.facts.method, '')
  })
  const accepted: Array<[method: string, reason: string]> = [
    ['DELETE', 'rule_denies'],
    ['GET', 'public'],
    ['PROPFIND', 'public'], // a token: methods need not be registered
    ['M-SEARCH', 'public'],
    ["X!#$%&'*+.^_`|~1", 'public'],
    ['A'.repeat(32), 'public'],
  ]
  for (const [method, reason] of accepted) {
    test(`${JSON.stringify(method)} -> ${reason}`, () => {
      assert.equal(decide(policy, { method, path: '/api/x' }).reason, reason)
    })
  }
})

describe('authority: parsed strictly, normalised, invalid denied before matching', () => {
  const policy = policyOf(`    - name: admin
      hosts: [admin.example.org]
      path: /**
      deny: true
    - name: wild
      hosts: ["*.internal.example.org"]
      path: /**
      deny: true
    - name: api
      hosts: [api.example.org]
      path: /api/**
      public: true
    - name: rest
      path: /**
      public: true
`)
  const denied: Array<[authority: string, rule: string]> = [
    ['admin.example.org', 'admin'],
    ['admin.example.org.', 'admin'],
    ['admin.example.org.:443', 'admin'],
    ['admin.example.org:443', 'admin'],
    ['ADMIN.Example.Org', 'admin'],
    ['ADMIN.EXAMPLE.ORG.:8443', 'admin'],
    ['admin.example.org:0', 'admin'],
    ['admin.example.org:65535', 'admin'],
    ['a.internal.example.org.', 'wild'],
    ['A.B.Internal.Example.Org', 'wild'],
  ]
  for (const [authority, rule] of denied) {
    test(`${JSON.stringify(authority)} -> rule ${rule} denies`, () => {
      const o = decide(policy, { path: '/x', authority })
      assert.deepEqual([o.reason, o.rule], ['rule_denies', rule])
    })
  }
  const invalid = [
    '',
    'x@admin.example.org',
    '@admin.example.org',
    'user:pass@admin.example.org',
    'admin.example.org:evil',
    'admin.example.org:',
    'admin.example.org:65536',
    'admin.example.org:123456',
    'admin.example.org:-1',
    'admin.example.org:+443',
    'admin.example.org: 443',
    'admin.example.org:443:443',
    'admin.example.org..',
    'admin..example.org',
    '.admin.example.org',
    '.',
    ':443',
    'admin example.org',
    'admin.example.org\u0000',
    'admin.example.org\t',
    'admin%2eexample.org',
    '%61dmin.example.org',
    'admin.example.org/',
    'admin.example.org\\',
    'admin.example.org?',
    'admin.example.org#',
    'adm\u00efn.example.org',
    'admin.example.\u212aorg', // KELVIN SIGN: lower-cases to "k"
    "admin.example.org'",
    'admin.example.org,evil',
    'admin.example.org;x',
    'admin.example.org*',
    `${'a'.repeat(64)}.example.org`,
    `${'a.'.repeat(127)}ab`, // 256 characters
    '[::1',
    '::1',
    '[::1]]',
    '[::1]x',
    '[::1]:',
    '[::1]:99999',
    '[fe80::1%25eth0]',
    '[v1.x]',
    '[127.0.0.1]',
    '[]',
    '0x7f.0.0.1',
    '127.1',
    '2130706433',
    '127.000.0.1',
    '127.0.0.01',
    '256.0.0.1',
    '1.2.3.4.5',
    'example.0x1',
    'example.123',
  ]
  for (const authority of invalid) {
    test(`${JSON.stringify(authority)} -> 400 authority_invalid`, () => {
      const o = decide(policy, { path: '/x', authority })
      assert.deepEqual([o.allow, o.status, o.reason], [false, 400, 'authority_invalid'])
    })
  }
  test('api.example.org:evil no longer matches hosts: [api.example.org]', () => {
    assert.equal(decide(policy, { path: '/api/x', authority: 'api.example.org' }).rule, 'api')
    assert.equal(
      decide(policy, { path: '/api/x', authority: 'api.example.org:evil' }).reason,
      'authority_invalid',
    )
  })
  test('IP addresses: one spelling each (IPv6 per RFC 5952)', () => {
    const loopback = policyOf(`    - name: loopback
      hosts: ["[0:0::1]", 127.0.0.1]
      path: /**
      deny: true
    - name: rest
      path: /**
      public: true
`)
    for (const authority of [
      '[::1]',
      '[::1]:8443',
      '[0:0:0:0:0:0:0:1]',
      '[0::1]:443',
      '127.0.0.1:80',
    ]) {
      assert.equal(decide(loopback, { path: '/', authority }).rule, 'loopback', authority)
    }
    assert.equal(decide(loopback, { path: '/', authority: '[::2]' }).rule, 'rest')
  })
  test('config hosts are normalised as request hosts are', () => {
    const upper = policyOf(`    - name: upper
      hosts: [Shouty.Example.ORG., "*.Wild.Example.org."]
      path: /**
      deny: true
    - name: rest
      path: /**
      public: true
`)
    for (const authority of ['shouty.example.org', 'SHOUTY.example.org.:1', 'a.wild.example.org']) {
      assert.equal(decide(upper, { path: '/', authority }).rule, 'upper', authority)
    }
    assert.equal(decide(upper, { path: '/', authority: 'wild.example.org' }).rule, 'rest')
  })
  test('an invalid authority is memoized too; one longer than any valid one is never held', () => {
    const before = factMemoBytes().hosts
    assert.equal(
      decide(policy, { path: '/', authority: 'memo-probe@x' }).reason,
      'authority_invalid',
    )
    const held = factMemoBytes().hosts
    assert.ok(held > before, 'the invalid verdict is held')
    assert.equal(
      decide(policy, { path: '/', authority: 'memo-probe@x' }).reason,
      'authority_invalid',
    )
    assert.equal(factMemoBytes().hosts, held, 'and found again')
    const long = `${'a'.repeat(MAX_AUTHORITY_LENGTH - 4)}.org:1`
    assert.equal(decide(policy, { path: '/', authority: long }).reason, 'authority_invalid')
    assert.equal(factMemoBytes().hosts, held)
  })
  test('compilePolicy refuses a host the schema would refuse, naming the key', () => {
    assert.throws(
      () =>
        compilePolicy(
          { rules: [{ name: 'r', path: '/', hosts: ['a..b'], deny: true }] },
          CONDITION_KINDS,
        ),
      (e: unknown) =>
        e instanceof PolicyCompileError &&
        e.keyPath === 'policy.rules[0].hosts[0]' &&
        /expected a host name/.test(e.problem),
    )
  })
  test('a missing :authority is refused', () => {
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/x' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.ok(built.ok)
    const d = authorize(built.facts, policy) as Decision
    assert.equal(d.allow, false)
    assert.equal(d.allow ? '' : d.reason, 'authority_invalid')
  })
  test('a duplicate :authority is refused like a duplicate :path', () => {
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/x' },
        { name: ':authority', value: 'api.example.org' },
        { name: ':authority', value: 'admin.example.org' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.deepEqual(built, { ok: false, detail: 'duplicate :authority' })
  })
})

describe('percent-decoding: strict UTF-8, nothing that normalises to ASCII, no fragment', () => {
  const policy = policyOf(`    - name: admin
      path: /admin/**
      deny: true
    - name: api
      path: /api/**
      public: true
`)
  const invalid: Array<[name: string, path: string]> = [
    ['overlong 3-byte "."', '/api/%E0%80%AE'],
    ['overlong 4-byte "."', '/api/%F0%80%80%AE'],
    ['overlong 3-byte "/"', '/api/%E0%80%AF'],
    ['overlong 2-byte (C1)', '/api/%C1%BF'],
    ['overlong 3-byte for U+07FF', '/api/%E0%9F%BF'],
    ['overlong 4-byte for U+FFFF', '/api/%F0%8F%BF%BF'],
    ['lone continuation byte', '/api/%80'],
    ['lone continuation byte BF', '/api/a%BFb'],
    ['truncated 2-byte', '/api/%C3'],
    ['truncated 3-byte', '/api/%E2%82'],
    ['truncated 4-byte', '/api/%F0%9F%98'],
    ['lead then ASCII', '/api/%C3a'],
    ['lead then encoded ASCII', '/api/%C3%20'],
    ['lead then slash', '/api/%C3/x'],
    ['two leads', '/api/%C3%C3%A9'],
    ['high surrogate', '/api/%ED%A0%80'],
    ['low surrogate', '/api/%ED%BF%BF'],
    ['above U+10FFFF', '/api/%F4%90%80%80'],
    ['F5 lead', '/api/%F5%80%80%80'],
    ['FF byte', '/api/%FF'],
    ['FE byte', '/api/%FE'],
    ['fullwidth full stop', '/api/%EF%BC%8E'],
    ['fullwidth dot-dot segment', '/api/%EF%BC%8E%EF%BC%8E/admin'],
    ['fullwidth solidus', '/api/%EF%BC%8F..%EF%BC%8Fadmin'],
    ['fullwidth reverse solidus', '/api/%EF%BC%BC'],
    ['fullwidth semicolon', '/api/x%EF%BC%9B'],
    ['fullwidth percent', '/api/%EF%BC%852e'],
    ['fullwidth question mark', '/api/x%EF%BC%9F'],
    ['fullwidth number sign', '/api/x%EF%BC%83'],
    ['small full stop', '/api/%EF%B9%92'],
    ['one dot leader', '/api/%E2%80%A4%E2%80%A4'],
    ['two dot leader', '/api/%E2%80%A5'],
    ['fullwidth letters', '/%EF%BD%81dmin/x'],
    ['fullwidth a alone', '/api/%EF%BD%81'],
    ['ligature fi', '/api/%EF%AC%81le'],
    ['no-break space', '/api/a%C2%A0b'],
    ['C1 control NEL', '/api/a%C2%85b'],
    ['C1 control 0x80', '/api/a%C2%80b'],
    ['fragment', '/api/x#frag'],
    ['fragment after query', '/api/x?q=1#frag'],
    ['fragment alone', '/api/#'],
    ['double-encoded dot', '/api/%252e%252e/admin'],
    ['double-encoded slash', '/api/..%252fadmin'],
    ['double-encoded percent', '/api/%25252e'],
  ]
  for (const [name, path] of invalid) {
    test(`${name}: ${path} -> 400 path_invalid`, () => {
      const o = decide(policy, { path })
      assert.deepEqual([o.allow, o.status, o.reason], [false, 400, 'path_invalid'])
    })
  }
  const allowed = [
    '/api/caf%C3%A9',
    '/api/%C3%A9t%C3%A9/x',
    '/api/%E4%B8%AD%E6%96%87',
    '/api/%F0%9F%98%80',
    '/api/%F4%8F%BF%BF', // U+10FFFF, the last code point
    '/api/%EF%BF%BD', // U+FFFD
    '/api/e%CC%81', // e + combining acute: NFKC composes it to é, no ASCII appears
    '/api/%E3%80%82', // ideographic full stop: NFKC keeps it
    '/api/100%25',
    '/api/%25',
    '/api/a%20b',
    '/api/x?q=%FF%EF%BC%8E', // the query is not checked
  ]
  for (const path of allowed) {
    test(`${path} is allowed`, () => assert.equal(decide(policy, { path }).reason, 'public'))
  }
})
