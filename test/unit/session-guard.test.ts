import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type GuardedSession,
  NGHTTP2_RESET_BURST,
  NGHTTP2_RESET_RATE_PER_S,
  SessionGuard,
} from '../../src/transport/http2/session-guard.js'

const CANCEL = 8

/** A session double: records close/destroy, holds ping callbacks for the test to answer. */
class FakeSession implements GuardedSession {
  closed = false
  destroyed = false
  closes = 0
  destroys = 0
  pings: Array<(err: Error | null) => void> = []
  close(): void {
    this.closes++
    this.closed = true
  }
  destroy(): void {
    this.destroys++
    this.destroyed = true
  }
  ping(cb: (err: Error | null) => void): boolean {
    this.pings.push(cb)
    return true
  }
}

function setup(opts: { rollAtTokens?: number; idlePingMs?: number; pingTimeoutMs?: number }) {
  let now = 0
  const events = { rolled: 0, unresponsive: 0 }
  const guard = new SessionGuard({
    ...opts,
    now: () => now,
    onRolled: () => events.rolled++,
    onUnresponsive: () => events.unresponsive++,
  })
  const session = new FakeSession()
  guard.add(session)
  const s: GuardedSession = session
  const resets = (n: number) => {
    for (let i = 0; i < n; i++) {
      guard.streamOpened(s)
      guard.streamClosed(s, CANCEL)
    }
  }
  return {
    guard,
    session,
    s,
    events,
    resets,
    advance: (ms: number) => {
      now += ms
    },
  }
}

describe('SessionGuard: rolling before nghttp2 rapid-reset limit', () => {
  test('rolls once, gracefully, when the tokens left reach rollAtTokens', (t) => {
    const g = setup({ rollAtTokens: 500 })
    t.after(() => g.guard.close())
    g.resets(NGHTTP2_RESET_BURST - 501)
    assert.equal(g.session.closes, 0)
    g.resets(1)
    assert.equal(g.session.closes, 1, 'GOAWAY NO_ERROR via close()')
    assert.equal(g.session.destroys, 0, 'open streams may finish')
    assert.equal(g.events.rolled, 1)
    g.resets(10)
    assert.equal(g.session.closes, 1, 'once')
  })

  test('streams ending without a reset cost nothing', (t) => {
    const g = setup({ rollAtTokens: 500 })
    t.after(() => g.guard.close())
    for (let i = 0; i < 10_000; i++) {
      g.guard.streamOpened(g.s)
      g.guard.streamClosed(g.s, 0)
    }
    assert.equal(g.session.closes, 0)
    assert.equal(g.guard.tokensLeft(g.s), NGHTTP2_RESET_BURST)
  })

  test('tokens come back at 33 per whole second, capped at the burst, as in nghttp2', (t) => {
    const g = setup({ rollAtTokens: 0 })
    t.after(() => g.guard.close())
    g.resets(400)
    g.advance(999) // not a whole second yet
    g.resets(1)
    assert.equal(g.guard.tokensLeft(g.s), NGHTTP2_RESET_BURST - 401)
    g.advance(2001) // 3 s since start: 3 whole seconds regained
    g.resets(1)
    assert.equal(g.guard.tokensLeft(g.s), NGHTTP2_RESET_BURST - 402 + 3 * NGHTTP2_RESET_RATE_PER_S)
    g.advance(3_600_000)
    g.resets(1)
    assert.equal(g.guard.tokensLeft(g.s), NGHTTP2_RESET_BURST - 1)
  })

  test('a steady 30 resets/s never rolls; 140/s rolls within 5 s', (t) => {
    const slow = setup({ rollAtTokens: 500 })
    t.after(() => slow.guard.close())
    for (let ms = 0; ms < 600_000; ms += 100) {
      slow.resets(3)
      slow.advance(100)
    }
    assert.equal(slow.session.closes, 0)
    const fast = setup({ rollAtTokens: 500 })
    t.after(() => fast.guard.close())
    let ms = 0
    while (fast.session.closes === 0 && ms < 60_000) {
      fast.resets(14)
      fast.advance(100)
      ms += 100
    }
    assert.ok(fast.session.closes === 1 && ms <= 5_000, `rolled after ${ms} ms`)
  })
})

describe('SessionGuard: idle sessions answer a ping or are destroyed', () => {
  test('an idle session that never acks is destroyed after the timeout', (t) => {
    const g = setup({ idlePingMs: 1000, pingTimeoutMs: 2000 })
    t.after(() => g.guard.close())
    g.advance(999)
    g.guard.check()
    assert.equal(g.session.pings.length, 0, 'not idle long enough')
    g.advance(1)
    g.guard.check()
    assert.equal(g.session.pings.length, 1)
    g.advance(1999)
    g.guard.check()
    assert.equal(g.session.destroys, 0)
    g.advance(1)
    g.guard.check()
    assert.equal(g.session.destroys, 1)
    assert.equal(g.events.unresponsive, 1)
  })

  test('an idle session that acks is kept and pinged again after the next idle spell', (t) => {
    const g = setup({ idlePingMs: 1000, pingTimeoutMs: 2000 })
    t.after(() => g.guard.close())
    for (let round = 1; round <= 5; round++) {
      g.advance(1000)
      g.guard.check()
      assert.equal(g.session.pings.length, round)
      g.advance(1500)
      g.session.pings[round - 1]?.(null)
      g.guard.check()
    }
    assert.equal(g.session.destroys, 0)
  })

  test('a session with an open stream is not pinged; stream activity clears a pending ping', (t) => {
    const g = setup({ idlePingMs: 1000, pingTimeoutMs: 2000 })
    t.after(() => g.guard.close())
    g.guard.streamOpened(g.s)
    g.advance(60_000)
    g.guard.check()
    assert.equal(g.session.pings.length, 0)
    g.guard.streamClosed(g.s, 0)
    g.advance(1000)
    g.guard.check()
    assert.equal(g.session.pings.length, 1)
    g.advance(1000)
    g.guard.streamOpened(g.s) // nghttp2 read a HEADERS frame: it reads, so the ack will come
    g.advance(5000)
    g.guard.check()
    assert.equal(g.session.destroys, 0)
  })
})
