import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type GuardedSession, SessionGuard } from '../../src/transport/http2/session-guard.js'

/** A session double: records destroy, holds ping callbacks for the test to answer. */
class FakeSession implements GuardedSession {
  destroyed = false
  destroys = 0
  pings: Array<(err: Error | null) => void> = []
  destroy(): void {
    this.destroys++
    this.destroyed = true
  }
  ping(cb: (err: Error | null) => void): boolean {
    this.pings.push(cb)
    return true
  }
}

function setup(opts: { idlePingMs?: number; pingTimeoutMs?: number }) {
  let now = 0
  const events = { unresponsive: 0 }
  const guard = new SessionGuard({
    ...opts,
    now: () => now,
    onUnresponsive: () => events.unresponsive++,
  })
  const session = new FakeSession()
  guard.add(session)
  const s: GuardedSession = session
  return {
    guard,
    session,
    s,
    events,
    advance: (ms: number) => {
      now += ms
    },
  }
}

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
    g.guard.streamClosed(g.s)
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
