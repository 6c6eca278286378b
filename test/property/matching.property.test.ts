import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { hostOfAuthority } from '../../src/authz/authority.js'
import { authorize } from '../../src/authz/authorize.js'
import { compilePolicy } from '../../src/authz/compile-policy.js'
import type { Decision } from '../../src/authz/decision.js'
import { compilePathTemplate } from '../../src/authz/path-template.js'
import { parseConfig } from '../../src/config/load-config.js'
import { CONDITION_KINDS } from '../../src/config/schema.js'
import { buildRequestFacts } from '../../src/extproc/build-request-facts.js'
import { RUNS } from './budget.js'

// Differential: our matcher against lenient upstreams. Whatever path an upstream that decodes
// leniently would route onto a denied route must not be allowed by us. A lenient upstream here
// drops the fragment and query, percent-decodes (strictly, accepting overlong UTF-8, or twice),
// applies NFKC, reads "\" as "/", strips ";" path parameters, merges slashes, removes dot
// segments and one trailing slash: each step is something a real server does.

type Decode = (bytes: number[]) => string | undefined

const strictUtf8: Decode = (bytes) => {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes))
  } catch {
    return undefined // such an upstream answers 400: nothing is routed
  }
}

// Old decoders (and some still shipped) decode overlong forms: %C0%AE and %E0%80%AE are ".".
const overlongUtf8: Decode = (bytes) => {
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number
    const n = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0
    let cp = n === 0 ? b : b & (0x3f >> n)
    for (let k = 1; k <= n; k++) cp = (cp << 6) | ((bytes[i + k] ?? 0) & 0x3f)
    i += n
    out += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd'
  }
  return out
}

function percentDecode(s: string, decode: Decode): string | undefined {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(s[i] as string, 'utf8'))
    }
  }
  return decode(bytes)
}

function removeDotSegments(segments: readonly string[]): string[] {
  const out: string[] = []
  for (const s of segments) {
    if (s === '..') out.pop()
    else if (s !== '.') out.push(s)
  }
  return out
}

/** The segments a lenient upstream routes on, or undefined if it would refuse the path. */
function lenientRoute(raw: string, decode: Decode, times: 1 | 2): string[] | undefined {
  let p: string | undefined = (raw.split('#')[0] as string).split('?')[0] as string
  for (let k = 0; k < times && p !== undefined; k++) p = percentDecode(p, decode)
  if (p === undefined) return undefined
  p = p.normalize('NFKC').replace(/\\/g, '/')
  const segments = p
    .split('/')
    .map((s) => s.split(';')[0] as string)
    .filter((s) => s !== '')
  return removeDotSegments(segments)
}

const DECODERS: Array<[string, (raw: string) => string[] | undefined]> = [
  ['decodeURIComponent-like', (raw) => lenientRoute(raw, strictUtf8, 1)],
  ['overlong-accepting', (raw) => lenientRoute(raw, overlongUtf8, 1)],
  ['decoding twice', (raw) => lenientRoute(raw, strictUtf8, 2)],
]

// Pieces that matter to some decoder, spelled many ways, and plain ones.
const atom = fc.constantFrom(
  'admin',
  'api',
  'x',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '.%2e',
  '%61dmin',
  'adm%69n',
  'a',
  'dmin',
  '%EF%BD%81', // fullwidth a
  '%EF%BD%84', // fullwidth d
  '%EF%BC%8E', // fullwidth full stop
  '%EF%B9%92', // small full stop
  '%E2%80%A4', // one dot leader
  '%EF%BC%8F', // fullwidth solidus
  '%EF%BC%BC', // fullwidth reverse solidus
  '%C0%AE',
  '%E0%80%AE',
  '%F0%80%80%AE',
  '%C0%AF',
  '%E0%80%AF',
  '%25',
  '%252e',
  '%252f',
  '%2561',
  '%2f',
  '%5c',
  '\\',
  ';',
  ';x',
  '#',
  '?',
  '/',
  '%C3%A9',
  'e%CC%81',
  '%E4%B8%AD',
  '%C3',
  '%80',
)
const segment = fc.array(atom, { minLength: 0, maxLength: 3 }).map((a) => a.join(''))
const path = fc
  .tuple(
    fc.array(segment, { minLength: 1, maxLength: 5 }),
    fc.boolean(),
    fc.constantFrom('', '?q=1', '?a=/../admin', '#frag'),
  )
  .map(([segs, slash, tail]) => `/${segs.join('/')}${slash ? '/' : ''}${tail}`)

function decide(policy: ReturnType<typeof compilePolicy>, rawPath: string): Decision {
  const built = buildRequestFacts(
    [
      { name: ':method', value: 'GET' },
      { name: ':path', value: rawPath },
      { name: ':authority', value: 'api.example.org' },
    ],
    undefined,
    { xfcc: false },
  )
  assert.ok(built.ok)
  return authorize(built.facts, policy) as Decision
}

const POLICIES: Array<[name: string, denied: readonly string[]]> = [
  ['deny /admin/**, allow /**', ['/admin/**']],
  ['deny /admin, /admin/{id}, /api/*/admin, allow /**', ['/admin', '/admin/{id}', '/api/*/admin']],
]

describe('no path a lenient upstream routes onto a denied route is allowed', () => {
  for (const [name, denied] of POLICIES) {
    const rules = [
      ...denied.map((p, i) => `    - name: deny-${i}\n      path: ${p}\n      deny: true\n`),
      '    - name: rest\n      path: /**\n      public: true\n',
    ].join('')
    const policy = compilePolicy(
      parseConfig(`policy:\n  rules:\n${rules}`, 'p.yaml').policy,
      CONDITION_KINDS,
    )
    const templates = denied.map(compilePathTemplate)
    for (const [decoderName, route] of DECODERS) {
      test(`${name}; ${decoderName} upstream`, () => {
        fc.assert(
          fc.property(path, (raw) => {
            const segments = route(raw)
            if (segments === undefined) return
            if (!templates.some((t) => t.match(segments) !== undefined)) return
            const d = decide(policy, raw)
            assert.equal(d.allow, false, `${raw} routes to /${segments.join('/')}, yet allowed`)
          }),
          { numRuns: RUNS * 10 },
        )
      })
    }
  }
})

describe('hostOfAuthority agrees with WHATWG URL on every authority it accepts', () => {
  const hostAtom = fc.constantFrom(
    'admin',
    'example',
    'org',
    'ADMIN',
    '.',
    '..',
    ':',
    ':443',
    ':0443',
    ':evil',
    '@',
    'x@',
    '%2e',
    '%61',
    '0x7f',
    '127',
    '1',
    '0',
    '00',
    '255',
    '256',
    '[',
    ']',
    '::1',
    '0:0::1',
    'ffff',
    '%25eth0',
    '_',
    '-',
    '\u212a',
    '\u00e9',
    '\uff0e',
    'xn--nxasmq6b',
  )
  test('accepted -> URL reads the same host (less one trailing dot)', () => {
    fc.assert(
      fc.property(
        fc.array(hostAtom, { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
        (authority) => {
          const ours = hostOfAuthority(authority)
          if (ours === undefined) return
          let url: URL
          try {
            url = new URL(`http://${authority}/`)
          } catch {
            return // refused there (an invalid xn-- label): no other host is read
          }
          assert.equal(url.hostname.replace(/\.$/, ''), ours, authority)
          assert.equal(url.username, '')
        },
      ),
      { numRuns: RUNS * 10 },
    )
  })
})
