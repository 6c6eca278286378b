import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import {
  BoundedMap,
  BoundedMemo,
  BoundedPairMap,
  ENTRY_OVERHEAD_BYTES,
  stringBytes,
} from '../../src/shared/bounded-memo.js'

const src = (path: string) =>
  JSON.stringify(fileURLToPath(new URL(`../../src/${path}`, import.meta.url)))

describe('BoundedMap / BoundedMemo', () => {
  test('the charge never exceeds maxBytes, whatever keys and sizes arrive', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 80 }), fc.nat({ max: 3000 })), {
          maxLength: 200,
        }),
        (entries) => {
          const m = new BoundedMap<number>({ maxBytes: 4096, maxKeyLength: 40 })
          for (const [key, size] of entries) {
            const kept = m.set(key, size, size)
            const cost = stringBytes(key) + size + ENTRY_OVERHEAD_BYTES
            assert.equal(kept, key.length <= 40 && cost <= 4096)
            if (kept) assert.equal(m.get(key), size)
            assert.ok(m.bytes <= 4096, `${m.bytes}`)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  test('a key longer than maxKeyLength is computed every time and never held', () => {
    let computed = 0
    const memo = new BoundedMemo(
      (k) => {
        computed++
        return k.length
      },
      { maxBytes: 1 << 20, maxKeyLength: 8 },
    )
    assert.equal(memo.get('a'.repeat(9)), 9)
    assert.equal(memo.get('a'.repeat(9)), 9)
    assert.equal(computed, 2)
    assert.equal(memo.size, 0)
    assert.equal(memo.get('short'), 5)
    assert.equal(memo.get('short'), 5)
    assert.equal(computed, 3)
    assert.equal(memo.size, 1)
  })

  test('full: the map is cleared and the new entry kept; evictions are counted', () => {
    const m = new BoundedMap<string>({ maxBytes: 3 * (ENTRY_OVERHEAD_BYTES + 2), maxKeyLength: 1 })
    for (const k of ['a', 'b', 'c']) m.set(k, k, 0)
    assert.equal(m.size, 3)
    m.set('d', 'd', 0)
    assert.equal(m.size, 1)
    assert.equal(m.get('d'), 'd')
    assert.equal(m.get('a'), undefined)
    assert.equal(m.evictions, 3)
  })
})

/**
 * The review's reproduction, per memo: distinct megabyte-sized values through the real code
 * path, then the heap measured after a full GC in a child process (--expose-gc). Before the
 * bound, each memo kept every value (300 peer attributes of 1 MB took the heap 18 -> 305 MiB).
 */
describe('BoundedPairMap', () => {
  test('two keys; full: everything is dropped and the new entry kept', () => {
    const m = new BoundedPairMap<string | undefined, string | undefined, number>(100)
    m.set('a', undefined, 1, 40)
    m.set('a', 's', 2, 40)
    assert.equal(m.get('a', undefined), 1)
    assert.equal(m.get('a', 's'), 2)
    assert.equal(m.get(undefined, 's'), undefined)
    assert.equal(m.bytes, 80)
    m.set('b', 's', 3, 40) // 120 > 100: cleared first
    assert.equal(m.get('a', undefined), undefined)
    assert.equal(m.get('a', 's'), undefined)
    assert.equal(m.get('b', 's'), 3)
    assert.equal(m.bytes, 40)
  })

  test('a weak outer level: object keys, clear() drops them', () => {
    const key = {}
    const m = new BoundedPairMap<object, string, number>(100, () => new WeakMap())
    m.set(key, 'r', 1, 10)
    assert.equal(m.get(key, 'r'), 1)
    m.clear()
    assert.equal(m.get(key, 'r'), undefined)
    assert.equal(m.bytes, 0)
  })
})

describe('every memo on a request path is bounded by bytes', () => {
  test('40 distinct 1 MB values retain under 8 MiB in each memo', () => {
    const script = `
      const { buildRequestFacts } = await import(${src('extproc/build-request-facts.js')})
      const { decisionLogger } = await import(${src('observe/decision-log.js')})
      const { SessionHasher, randomHashKey } = await import(${src('shared/session-hasher.js')})
      const { createLogger } = await import(${src('shared/logger.js')})
      const { Responder } = await import(${src('extproc/respond.js')})
      const N = 40
      const big = (i) => String(i).padStart(8, '0') + 'x'.repeat(1024 * 1024)
      const heap = () => { globalThis.gc(); globalThis.gc(); const m = process.memoryUsage(); return m.heapUsed + m.external }
      const out = {}
      const measure = (name, run) => {
        const before = heap()
        const keep = run()
        out[name] = heap() - before
        if (keep === undefined) return
      }
      const headers = (authority) => [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/' },
        { name: ':authority', value: authority },
      ]
      measure('peer attribute', () => {
        for (let i = 0; i < N; i++) {
          const attrs = new Map([['connection.uri_san_peer_certificate', 'spiffe://example.org/' + big(i)]])
          buildRequestFacts(headers('a'), attrs, { xfcc: false })
        }
      })
      measure('authority', () => {
        for (let i = 0; i < N; i++) buildRequestFacts(headers(big(i)), undefined, { xfcc: false })
      })
      const log = decisionLogger(createLogger('info', { write() {} }))
      measure('decision log fields', () => {
        for (let i = 0; i < N; i++) {
          log.onDecision({
            decision: {
              allow: false, reason: big(i), rule: big(i), detail: big(i),
              route: { template: '/' + big(i) + '/{p}', params: { p: big(i) } },
            },
            facts: { method: big(i), path: '/', peer: { uri: big(i) } },
            durationMs: 1,
          })
        }
      })
      const hasher = new SessionHasher(randomHashKey())
      measure('session hashes', () => {
        for (let i = 0; i < N; i++) hasher.hash(big(i))
      })
      const responder = new Responder({ spiffeId: 'x-spiffe-id', sessionId: 'x-session-id', strip: [] })
      measure('allow answers', () => {
        for (let i = 0; i < 4 * N; i++) {
          responder.allow({ allow: true, rule: 'r', reason: 'allowed', spiffeId: 'y'.repeat(256 * 1024) + i, sessionId: undefined, stripAuthorization: false })
        }
      })
      process.stdout.write(JSON.stringify(out))
    `
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=1024', '--input-type=module', '-e', script],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const retained = JSON.parse(out) as Record<string, number>
    assert.equal(Object.keys(retained).length, 5)
    for (const [memo, bytes] of Object.entries(retained)) {
      assert.ok(bytes < 8 * 1024 * 1024, `${memo}: ${(bytes / 2 ** 20).toFixed(1)} MiB retained`)
    }
  })
})
