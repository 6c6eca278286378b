import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { compilePathTemplate, splitRequestPath } from '../../src/authz/path-template.js'
import { parseSpiffeId } from '../../src/identity/spiffe-id.js'
import { parseXfcc, xfccPeerUri } from '../../src/identity/xfcc.js'
import { RUNS } from './budget.js'

const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''))
const pathChar = fc.constantFrom(...'abcXYZ019.-_'.split(''))
const segment = fc
  .string({ unit: pathChar, minLength: 1, maxLength: 12 })
  .filter((s) => s !== '.' && s !== '..')
const validId = fc
  .tuple(
    fc.string({ unit: tdChar, minLength: 1, maxLength: 30 }),
    fc.array(segment, { maxLength: 6 }),
  )
  .map(([td, segs]) => `spiffe://${td}${segs.map((s) => `/${s}`).join('')}`)

// Characters that matter to the parsers, mixed with anything at all.
const nasty = fc.oneof(
  fc.string({
    unit: fc.constantFrom(...'spife:/.%?#@A-_,;="\\ \t\u0000\u00e9'.split('')),
    maxLength: 40,
  }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
)

describe('SPIFFE ID parser properties', () => {
  test('never throws; accepts only what the standard allows', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          nasty,
          nasty.map((s) => `spiffe://${s}`),
        ),
        (s) => {
          const r = parseSpiffeId(s)
          if (!r.ok) return
          assert.match(r.id.uri, /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/)
          assert.ok(!r.id.path.split('/').some((p) => p === '.' || p === '..'))
          assert.ok(r.id.uri.length <= 2048)
        },
      ),
      { numRuns: RUNS * 3 },
    )
  })
  test('every ID built from the grammar parses back to its parts', () => {
    fc.assert(
      fc.property(validId, (uri) => {
        const r = parseSpiffeId(uri)
        assert.ok(r.ok, uri)
        assert.equal(`spiffe://${r.id.trustDomain}${r.id.path}`, uri)
      }),
      { numRuns: RUNS },
    )
  })
})

describe('XFCC parser properties', () => {
  const value = fc.string({ maxLength: 30 })
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  test('serialised elements parse back exactly; only a single element gives an identity', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.tuple(fc.constantFrom('By', 'Hash', 'Subject', 'URI', 'DNS', 'cert'), value),
            {
              minLength: 1,
              maxLength: 5,
            },
          ),
          { minLength: 1, maxLength: 5 },
        ),
        (elements) => {
          const header = elements
            .map((pairs) => pairs.map(([k, v]) => `${k}=${quote(v)}`).join(';'))
            .join(',')
          const parsed = parseXfcc(header)
          assert.ok(parsed, header)
          assert.deepEqual(
            parsed.map((e) => e.pairs),
            elements.map((pairs) => pairs.map(([k, v]) => [k.toLowerCase(), v])),
          )
          const uris = (elements[0] ?? []).filter(([k, v]) => k === 'URI' && v !== '')
          assert.equal(
            xfccPeerUri(header),
            elements.length === 1 && uris.length === 1 ? uris[0]?.[1] : undefined,
          )
        },
      ),
      { numRuns: RUNS },
    )
  })
  test('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(nasty, (s) => {
        parseXfcc(s)
        xfccPeerUri(s)
      }),
      { numRuns: RUNS * 3 },
    )
  })
})

describe('path properties', () => {
  const templates = ['/', '/api/**', '/api/{a}/*', '/x/{y}/z/**', '/healthz'].map(
    compilePathTemplate,
  )
  test('splitRequestPath never yields a segment another parser could read differently', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          nasty,
          nasty.map((s) => `/${s}`),
        ),
        (p) => {
          const segs = splitRequestPath(p)
          if (segs === undefined) return
          for (const [i, s] of segs.entries()) {
            assert.ok(s !== '.' && s !== '..', p)
            assert.ok(s !== '' || i === segs.length - 1, p)
            assert.doesNotMatch(s, /%2e|%2f|%5c|\\|[?#]/i)
            assert.ok(![...s].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f), p)
          }
          for (const t of templates) t.match(segs)
        },
      ),
      { numRuns: RUNS * 3 },
    )
  })
})
