import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_LIVE_FILE_BYTES, parseLiveIds } from '../../src/liveness/parse-live-ids.js'

test('ids one per line, comments and blank lines ignored', () => {
  const r = parseLiveIds('# live sessions\nsess-1\n\n  sess-2  # trailing comment\r\nsess-1\n')
  assert.equal(r.ok, true)
  assert.deepEqual(r.ok && [...r.ids].sort(), ['sess-1', 'sess-2'])
})

test('a bad line rejects the whole file and names the line', () => {
  assert.deepEqual(parseLiveIds('sess-1\nsess 2\n'), {
    ok: false,
    error: 'line 2: not a session id',
  })
})

test('oversized input is rejected before parsing', () => {
  const r = parseLiveIds('a\n'.repeat(MAX_LIVE_FILE_BYTES))
  assert.equal(r.ok, false)
})
