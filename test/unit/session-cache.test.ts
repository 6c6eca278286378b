import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SessionCache } from '../../src/tokens/session-cache.js'

const CONFIG = { max_entries: 2, ttl_seconds: 10, negative_ttl_seconds: 5, negative_max_entries: 1 }
const KIDS = new Map([['k1', true]])

test('a success lasts ttl_seconds, never past the token exp', () => {
  const c = new SessionCache<string>(CONFIG)
  c.setValid('d1', 'sess-1', 'k1', 0)
  c.setValid('d2', 'sess-2', 'k1', 0, 3000)
  assert.equal(c.get('d1', 9999, KIDS), 'sess-1')
  assert.equal(c.get('d1', 10_000, KIDS), undefined)
  assert.equal(c.get('d2', 2999, KIDS), 'sess-2')
  assert.equal(c.get('d2', 3000, KIDS), undefined)
  assert.equal(c.size, 0, 'expired entries are dropped when found')
})

test('an entry counts only while the key that made it is loaded', () => {
  const c = new SessionCache<string>(CONFIG)
  c.setValid('d1', 'sess-1', 'k-old', 0)
  assert.equal(c.get('d1', 1, KIDS), undefined)
  assert.equal(c.size, 0)
})

test('failures are kept briefly, in a bounded LRU of their own, and cleared on demand', () => {
  const c = new SessionCache<string>(CONFIG)
  c.setValid('ok', 'sess', 'k1', 0)
  c.setFailed('bad1', 'invalid', 0)
  c.setFailed('bad2', 'invalid', 0)
  assert.equal(c.get('bad1', 1, KIDS), undefined, 'evicted by bad2: one failure fits')
  assert.equal(c.get('bad2', 4999, KIDS), 'invalid')
  assert.equal(c.get('ok', 1, KIDS), 'sess', 'failures never push out successes')
  assert.equal(c.evictions, 1)
  c.clearFailed()
  assert.equal(c.get('bad2', 1, KIDS), undefined)
  assert.equal(c.get('ok', 1, KIDS), 'sess')
})

test('negative_ttl_seconds 0 caches no failure', () => {
  const c = new SessionCache<string>({ ...CONFIG, negative_ttl_seconds: 0 })
  c.setFailed('bad', 'invalid', 0)
  assert.equal(c.size, 0)
})
