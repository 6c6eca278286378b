import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MAX_XFCC_BYTES, parseXfcc, xfccPeerUri } from '../../src/identity/xfcc.js'

// Examples in the shape of Envoy's documentation (x-forwarded-client-cert).
const ENVOY_DOC =
  'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;' +
  'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com'

describe('parseXfcc', () => {
  test('one element with quoted Subject', () => {
    assert.deepEqual(parseXfcc(ENVOY_DOC), [
      {
        pairs: [
          ['by', 'http://frontend.lyft.com'],
          ['hash', '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'],
          ['subject', '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client'],
          ['uri', 'http://testclient.lyft.com'],
        ],
      },
    ])
  })

  test('quoted values keep , ; = and unescape \\" and \\\\', () => {
    const els = parseXfcc('Subject="CN=a, O=b; c=\\"d\\" \\\\e";URI=spiffe://td/x')
    assert.deepEqual(els?.[0]?.pairs, [
      ['subject', 'CN=a, O=b; c="d" \\e'],
      ['uri', 'spiffe://td/x'],
    ])
  })

  test('several elements, case-insensitive keys, repeated URI/DNS', () => {
    const els = parseXfcc(
      'By=spiffe://td/a;uri=spiffe://td/x, BY=spiffe://td/b;Uri=spiffe://td/y;DNS=a;DNS=b',
    )
    assert.equal(els?.length, 2)
    assert.deepEqual(els?.[1]?.pairs, [
      ['by', 'spiffe://td/b'],
      ['uri', 'spiffe://td/y'],
      ['dns', 'a'],
      ['dns', 'b'],
    ])
  })

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['no =', 'URI'],
    ['empty key', '=x'],
    ['unterminated quote', 'Subject="CN=a;URI=spiffe://td/x'],
    ['garbage after closing quote', 'Subject="a"b;URI=x'],
    ['quote inside unquoted value', 'URI=spi"ffe'],
    ['trailing ;', 'URI=spiffe://td/x;'],
    ['trailing ,', 'URI=spiffe://td/x,'],
    ['bad escape', 'Subject="a\\x"'],
    ['dangling backslash', 'Subject="a\\'],
    ['too long', `URI=${'a'.repeat(MAX_XFCC_BYTES)}`],
    ['too many elements', Array.from({ length: 65 }, () => 'URI=a').join(',')],
  ]
  for (const [name, value] of malformed) {
    test(`malformed: ${name}`, () => assert.equal(parseXfcc(value), undefined))
  }
})

describe('xfccPeerUri', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['Envoy doc example', ENVOY_DOC, 'http://testclient.lyft.com'],
    [
      'SANITIZE_SET element',
      'By=spiffe://td/envoy;Hash=ab;URI=spiffe://td/ns/ci',
      'spiffe://td/ns/ci',
    ],
    [
      'newest (last) element wins',
      'URI=spiffe://td/admin,By=spiffe://td/envoy;URI=spiffe://td/ci',
      'spiffe://td/ci',
    ],
    [
      'client element appended after? still last',
      'By=x;URI=spiffe://td/a,URI=spiffe://td/b',
      'spiffe://td/b',
    ],
    ['bare URI= means none', 'By=spiffe://td/envoy;URI=', undefined],
    ['no URI pair', 'By=spiffe://td/envoy;Hash=ab', undefined],
    ['two URI SANs: not an SVID', 'URI=spiffe://td/a;URI=spiffe://td/b', undefined],
    ['malformed', 'URI="spiffe://td/a', undefined],
    ['quoted URI', 'URI="spiffe://td/a"', 'spiffe://td/a'],
  ]
  for (const [name, value, expected] of cases) {
    test(name, () => assert.equal(xfccPeerUri(value), expected))
  }
})
