import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setsStreamResetLimits } from '../../src/transport/http2/serve-http2.js'

// Node passes streamResetBurst/streamResetRate to nghttp2 from 22.10 on (nodejs/node#54875);
// before that nghttp2's default (1,000 resets, 33/s) drops Envoy's connections and serve warns.
describe('setsStreamResetLimits', () => {
  test('false before 22.10: Node 20 and early 22', () => {
    for (const v of ['20.20.2', '20.99.0', '21.7.3', '22.0.0', '22.9.9']) {
      assert.equal(setsStreamResetLimits(v), false, v)
    }
  })
  test('true from 22.10 on', () => {
    for (const v of ['22.10.0', '22.21.1', '23.0.0', '24.22.3', '26.1.0']) {
      assert.equal(setsStreamResetLimits(v), true, v)
    }
  })
})
