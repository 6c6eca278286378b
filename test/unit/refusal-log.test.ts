import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { TLSSocket } from 'node:tls'
import type { PeerPolicy } from '../../src/pki/verify-peer.js'
import { LogLimiter } from '../../src/shared/log-limiter.js'
import { createLogger } from '../../src/shared/logger.js'
import { type PeerGateStats, peerCheck } from '../../src/transport/peer-check.js'
import { refusalLog } from '../../src/transport/refusal-log.js'

const POLICY: PeerPolicy = { bundles: new Map(), allowed: [] }

function captured() {
  const lines: Array<Record<string, unknown>> = []
  const logger = createLogger('info', { write: (s: string) => lines.push(JSON.parse(s)) })
  return { lines, logger }
}

/** A clock the test steps; nothing waits. */
function clock() {
  let t = 0
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('refused peers: every refusal counted, the log line rate limited', () => {
  // One check serves both transports (grpc-js does its own node:tls handshake and calls it too).
  test('179 refusals in a tight loop write 5 lines; the next window says how many were left out', () => {
    const { lines, logger } = captured()
    const stats: PeerGateStats = { admitted: 0, refused: 0, notLogged: 0 }
    const c = clock()
    const check = peerCheck(() => POLICY, logger, stats, new LogLimiter(5, 10_000, c.now))
    const refuse = () => assert.equal(check(undefined, {} as TLSSocket), false)
    for (let i = 0; i < 179; i++) {
      refuse()
      c.advance(1) // 179 refusals within 179 ms of the clock
    }
    assert.equal(stats.refused, 179)
    assert.equal(lines.length, 5)
    assert.equal(stats.notLogged, 174)
    assert.ok(lines.every((l) => l.msg === 'refused peer' && l.not_logged === undefined))
    c.advance(10_000)
    refuse()
    assert.equal(lines.length, 6)
    assert.equal(lines[5]?.not_logged, 174)
    assert.equal(lines[5]?.reason, 'no client certificate')
    assert.equal(stats.refused, 180)
  })

  test('a long presented identity is cut in the log line', () => {
    const { lines, logger } = captured()
    const stats: PeerGateStats = { admitted: 0, refused: 0, notLogged: 0 }
    refusalLog(logger, stats, new LogLimiter())({ presented: 'x'.repeat(100_000), reason: 'r' })
    assert.equal(stats.refused, 1)
    assert.ok(String(lines[0]?.presented).length <= 513)
  })
})
