import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  MAX_XFCC_BYTES,
  MAX_XFCC_ELEMENTS,
  parseXfcc,
  xfccPeerUri,
} from '../../src/identity/xfcc.js'

// The three examples from Envoy's documentation (http_conn_man/headers#x-forwarded-client-cert).
const DOC_ONE =
  'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;' +
  'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com'
const DOC_TWO =
  'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;' +
  'URI=http://testclient.lyft.com,By=http://backend.lyft.com;' +
  'Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com'
const DOC_DNS = `${DOC_ONE};DNS=lyft.com;DNS=www.lyft.com`

// What Envoy writes with SANITIZE_SET for an X.509-SVID (Subject in RFC 2253 form).
const PROXY =
  'By=spiffe://example.org/envoy;Hash=ab12;Subject="CN=runner,O=Example";URI=spiffe://example.org/ns/ci'

type Pairs = Array<[string, string]>

describe('parseXfcc: accepted', () => {
  const cases: Array<[name: string, header: string, elements: Pairs[]]> = [
    [
      'Envoy doc: one element, quoted Subject',
      DOC_ONE,
      [
        [
          ['by', 'http://frontend.lyft.com'],
          ['hash', '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'],
          ['subject', '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client'],
          ['uri', 'http://testclient.lyft.com'],
        ],
      ],
    ],
    [
      'Envoy doc: two elements',
      DOC_TWO,
      [
        [
          ['by', 'http://frontend.lyft.com'],
          ['hash', '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'],
          ['uri', 'http://testclient.lyft.com'],
        ],
        [
          ['by', 'http://backend.lyft.com'],
          ['hash', '9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e'],
          ['uri', 'http://frontend.lyft.com'],
        ],
      ],
    ],
    [
      'Envoy doc: URI and repeated DNS',
      DOC_DNS,
      [
        [
          ['by', 'http://frontend.lyft.com'],
          ['hash', '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'],
          ['subject', '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client'],
          ['uri', 'http://testclient.lyft.com'],
          ['dns', 'lyft.com'],
          ['dns', 'www.lyft.com'],
        ],
      ],
    ],
    [
      'quoted value keeps , ; = and unescapes \\" and \\\\',
      'Subject="CN=a, O=b; c=\\"d\\" \\\\e";URI=spiffe://td/x',
      [
        [
          ['subject', 'CN=a, O=b; c="d" \\e'],
          ['uri', 'spiffe://td/x'],
        ],
      ],
    ],
    [
      'other backslash escapes (RFC 2253 Subject) are kept as written',
      'Subject="CN=Acme\\, Inc.,O=x\\+y,CN=caf\\C3\\A9";URI=spiffe://td/x',
      [
        [
          ['subject', 'CN=Acme\\, Inc.,O=x\\+y,CN=caf\\C3\\A9'],
          ['uri', 'spiffe://td/x'],
        ],
      ],
    ],
    [
      'a quoted value may be empty',
      'Subject="";URI=""',
      [
        [
          ['subject', ''],
          ['uri', ''],
        ],
      ],
    ],
    [
      'bare URI= is an empty value',
      'By=spiffe://td/e;URI=',
      [
        [
          ['by', 'spiffe://td/e'],
          ['uri', ''],
        ],
      ],
    ],
    [
      'keys are case-insensitive',
      'uri=spiffe://td/a;URI=spiffe://td/b;Uri=spiffe://td/c;bY=x',
      [
        [
          ['uri', 'spiffe://td/a'],
          ['uri', 'spiffe://td/b'],
          ['uri', 'spiffe://td/c'],
          ['by', 'x'],
        ],
      ],
    ],
    ['values are case-sensitive', 'URI=spiffe://td/MiXeD', [[['uri', 'spiffe://td/MiXeD']]]],
    ['= inside an unquoted value', 'By=http://x/?a=b', [[['by', 'http://x/?a=b']]]],
    [
      'URL-encoded Cert',
      'Hash=ab;Cert="-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%3D%0A-----END%20CERTIFICATE-----%0A";URI=spiffe://td/x',
      [
        [
          ['hash', 'ab'],
          ['cert', '-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%3D%0A-----END%20CERTIFICATE-----%0A'],
          ['uri', 'spiffe://td/x'],
        ],
      ],
    ],
    [
      'unknown keys are kept',
      'X-Future_1=v;URI=spiffe://td/x',
      [
        [
          ['x-future_1', 'v'],
          ['uri', 'spiffe://td/x'],
        ],
      ],
    ],
    [
      'whitespace around separators',
      ' URI=spiffe://td/a ; DNS=a ,\tURI="spiffe://td/b" ',
      [
        [
          ['uri', 'spiffe://td/a'],
          ['dns', 'a'],
        ],
        [['uri', 'spiffe://td/b']],
      ],
    ],
  ]
  for (const [name, header, elements] of cases) {
    test(name, () => {
      assert.deepEqual(
        parseXfcc(header)?.map((e) => e.pairs),
        elements,
      )
    })
  }

  test(`exactly ${MAX_XFCC_ELEMENTS} elements and exactly ${MAX_XFCC_BYTES} bytes`, () => {
    const many = Array.from({ length: MAX_XFCC_ELEMENTS }, () => 'URI=a').join(',')
    assert.equal(parseXfcc(many)?.length, MAX_XFCC_ELEMENTS)
    const long = `Cert="${'a'.repeat(MAX_XFCC_BYTES - 'Cert=""'.length)}"`
    assert.equal(long.length, MAX_XFCC_BYTES)
    assert.equal(parseXfcc(long)?.length, 1)
  })
})

describe('parseXfcc: malformed (the whole header is refused)', () => {
  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['only whitespace', '   '],
    ['pair without =', 'URI'],
    ['second pair without =', 'URI=a;DNS'],
    ['empty key', '=x'],
    ['key of spaces', ' =x'],
    ['space inside key', 'U RI=x'],
    ['space before =', 'URI =x'],
    ['space after =', 'URI= x'],
    ['punctuation in key', 'U.RI=x'],
    ['quote in key', '"URI"=x'],
    ['empty pair', 'URI=a;;DNS=b'],
    ['empty element', 'URI=a,,URI=b'],
    ['leading comma', ',URI=a'],
    ['leading semicolon', ';URI=a'],
    ['trailing ;', 'URI=spiffe://td/x;'],
    ['trailing ,', 'URI=spiffe://td/x,'],
    ['trailing , and space', 'URI=spiffe://td/x, '],
    ['unterminated quote', 'Subject="CN=a;URI=spiffe://td/x'],
    ['unterminated: escaped final quote', 'Subject="a\\"'],
    ['dangling backslash', 'Subject="a\\'],
    ['garbage after closing quote', 'Subject="a"b;URI=x'],
    ['second quoted string', 'Subject="a" "b"'],
    ['quote inside unquoted value', 'URI=spi"ffe'],
    ['space inside unquoted value', 'URI=spiffe://td/a b'],
    ['NUL', 'URI=spiffe://td/a\u0000'],
    ['newline', 'URI=spiffe://td/a\n;DNS=b'],
    ['CR in quoted value', 'Subject="a\rb"'],
    ['DEL', 'URI=a\u007f'],
    ['non-ASCII byte in a value', 'URI=spiffe://td/caf\u00e9'],
    ['non-ASCII byte in a quoted value', 'Subject="CN=caf\u00e9"'],
    ['too long', `URI=${'a'.repeat(MAX_XFCC_BYTES)}`],
    ['too many elements', Array.from({ length: MAX_XFCC_ELEMENTS + 1 }, () => 'URI=a').join(',')],
    ['lone surrogate', 'URI=\ud800'],
  ]
  for (const [name, value] of malformed) {
    test(name, () => {
      assert.equal(parseXfcc(value), undefined)
      assert.equal(xfccPeerUri(value), undefined)
    })
  }
})

describe('xfccPeerUri', () => {
  const cases: Array<[name: string, header: string, expected: string | undefined]> = [
    ['Envoy doc: one element', DOC_ONE, 'http://testclient.lyft.com'],
    // SANITIZE_SET writes one element: two are never all genuine, so they give no identity.
    ['Envoy doc: two elements: no identity', DOC_TWO, undefined],
    ['Envoy doc: URI with DNS SANs', DOC_DNS, 'http://testclient.lyft.com'],
    ['SANITIZE_SET element', PROXY, 'spiffe://example.org/ns/ci'],
    ['lowercase key', 'uri=spiffe://td/a', 'spiffe://td/a'],
    ['quoted URI', 'URI="spiffe://td/a"', 'spiffe://td/a'],
    ['bare URI= means none', 'By=spiffe://td/envoy;URI=', undefined],
    ['empty quoted URI means none', 'By=spiffe://td/envoy;URI=""', undefined],
    ['no URI pair', 'By=spiffe://td/envoy;Hash=ab', undefined],
    ['two URI SANs: not an X.509-SVID', 'URI=spiffe://td/a;URI=spiffe://td/b', undefined],
    ['two URI SANs, different key case', 'URI=spiffe://td/a;uri=spiffe://td/b', undefined],
    ['an empty URI beside one URI', 'URI=;URI=spiffe://td/a', 'spiffe://td/a'],
    ['By is the proxy, never the peer', 'By=spiffe://td/envoy;Hash=ab', undefined],
    ['URI only in an older element', 'URI=spiffe://td/a,By=spiffe://td/envoy;URI=', undefined],
    ['URI in the newer of two elements', 'By=spiffe://td/envoy;URI=,URI=spiffe://td/a', undefined],
    ['malformed', 'URI="spiffe://td/a', undefined],
  ]
  for (const [name, header, expected] of cases) {
    test(name, () => assert.equal(xfccPeerUri(header), expected))
  }
})

// Attempts to make something a client wrote be read as the proxy's element. With SANITIZE_SET
// exactly one element is genuine, so any header with more gives no identity at all.
describe('xfccPeerUri: spoofing shapes', () => {
  const cases: Array<[name: string, header: string, expected: string | undefined]> = [
    [
      // Envoy writes URI= unquoted: a URI SAN holding a comma splices a second element.
      'URI SAN with a comma splices a second element (SANITIZE_SET)',
      'By=spiffe://example.org/envoy;Hash=ab;URI=spiffe://example.org/ns/ci/x,URI=spiffe://example.org/ns/prod/sa/api',
      undefined,
    ],
    [
      'client element before the proxy element',
      `URI=spiffe://example.org/ns/admin,${PROXY}`,
      undefined,
    ],
    [
      'several client elements before the proxy element',
      `URI=spiffe://example.org/a,URI=spiffe://example.org/b;By=x,${PROXY}`,
      undefined,
    ],
    [
      'client quoted value hiding a comma',
      `Subject="x,URI=spiffe://example.org/ns/admin";URI=spiffe://example.org/ns/admin,${PROXY}`,
      undefined,
    ],
    [
      'client opens a quote to swallow the proxy element',
      `By=x;Subject="${`,${PROXY}`}`,
      undefined,
    ],
    [
      'client opens a quote that the proxy Subject quote closes',
      `URI=spiffe://example.org/ns/admin;Subject="x,${PROXY}`,
      undefined,
    ],
    [
      'client ends with a backslash to escape the proxy comma',
      `URI=spiffe://example.org/ns/admin;Subject="x\\,${PROXY}`,
      undefined,
    ],
    ['client escapes a quote to stay inside it', `Subject="x\\",${PROXY}`, undefined],
    [
      'client leaves a trailing separator',
      `URI=spiffe://example.org/ns/admin;,${PROXY}`,
      undefined,
    ],
    ['client element with a control byte', `URI=spiffe://example.org/a\u0000,${PROXY}`, undefined],
  ]
  for (const [name, header, expected] of cases) {
    test(name, () => assert.equal(xfccPeerUri(header), expected))
  }
})
