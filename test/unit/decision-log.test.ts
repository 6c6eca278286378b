import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { Decision } from '../../src/authz/decision.js'
import type { RequestFacts } from '../../src/authz/request-facts.js'
import type { DecisionEvent } from '../../src/extproc/process-stream.js'
import { decisionLogger, inSample } from '../../src/observe/decision-log.js'
import { BatchedDestination, MAX_DELAY_MS } from '../../src/shared/batched-destination.js'
import { createLogger } from '../../src/shared/logger.js'
import { SessionHasher } from '../../src/shared/session-hasher.js'

const KEY = Buffer.from('0123456789abcdef0123456789abcdef-test-key')
/** The keyed hash, written out here: the oracle must not share the code under test. */
const hmac = (value: string, key: Buffer = KEY) =>
  createHmac('sha256', key).update(value).digest('hex').slice(0, 16)

/** A destination that keeps every write as it came. */
function capture() {
  const writes: string[] = []
  return { writes, write: (s: string) => writes.push(s) }
}

function event(over: {
  decision?: Partial<Decision>
  facts?: Partial<RequestFacts> | undefined
}): DecisionEvent {
  const decision = {
    allow: true,
    reason: 'allowed',
    rule: 'sessions',
    spiffeId: 'spiffe://example.org/ns/ci/sa/runner',
    route: { template: '/api/sessions/{session}/**', params: { session: 'abc' } },
    ...over.decision,
  } as Decision
  const facts =
    over.facts === undefined && 'facts' in over
      ? undefined
      : ({
          method: 'GET',
          path: '/api/sessions/abc/logs?sig=secret',
          peer: { uri: 'spiffe://example.org/ns/ci/sa/runner' },
          requestId: '2f1e7c8a-61b4-4d6e-9a51-0c1f3e5d7b92',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          ...over.facts,
        } as RequestFacts)
  return { decision, facts, durationMs: 0.01234 }
}

const WELL_FORMED_TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

/** The route as the log must print it: each `{name}` segment becomes `{name:<hmac>}`. */
function expectedRoute(d: Decision): string | undefined {
  if (d.route === undefined) return undefined
  const { template, params } = d.route
  return template
    .split('/')
    .map((seg) => {
      const m = /^\{(.+)\}$/.exec(seg)
      return m === null ? seg : `{${m[1]}:${hmac(params[m[1] as string] ?? '')}}`
    })
    .join('/')
}

/** What pino itself writes for the same fields (the form the direct writer must match). */
function viaPino(e: DecisionEvent, level: 'info' | 'warn'): string {
  const out = capture()
  const logger = createLogger('info', out)
  const { decision: d, facts: f } = e
  logger[level](
    {
      decision: d.allow ? 'allow' : 'deny',
      reason: d.reason,
      rule: d.rule,
      detail: d.allow ? undefined : d.detail,
      method: f?.method,
      route: expectedRoute(d),
      path_bytes: d.route === undefined ? f?.path.length : undefined,
      peer: f?.peer?.uri,
      request_id: f?.requestId,
      session: d.allow && d.sessionId !== undefined ? hmac(d.sessionId) : undefined,
      // Written out here, not through traceIds(): the oracle must not share the code under test.
      trace_id: WELL_FORMED_TRACEPARENT.test(f?.traceparent ?? '')
        ? f?.traceparent?.slice(3, 35)
        : undefined,
      span_id: WELL_FORMED_TRACEPARENT.test(f?.traceparent ?? '')
        ? f?.traceparent?.slice(36, 52)
        : undefined,
      duration_ms: Math.round(e.durationMs * 1000) / 1000,
    },
    'decision',
  )
  return out.writes.join('')
}

const sameButTime = (line: string) => line.replace(/"time":\d+/, '"time":0')

/** Every decision logged: allows at info, denies at warn. */
const EVERY_DECISION = {
  level: 'info',
  decisions: { allow_level: 'info', deny_level: 'warn', sample_allow: 1, sample_deny: 1 },
} as const

describe('decision log lines', () => {
  const cases: Array<[string, DecisionEvent, 'info' | 'warn']> = [
    ['a SPIFFE allow', event({}), 'info'],
    ['a runner allow (session hashed)', event({ decision: { sessionId: 'sess-42' } }), 'info'],
    [
      'a deny with detail',
      event({
        decision: {
          allow: false,
          reason: 'no_matching_rule',
          detail: 'no rule matches',
          rule: undefined,
          route: undefined,
        },
      }),
      'warn',
    ],
    [
      'a deny by a rule: its route, captures hashed',
      event({
        decision: {
          allow: false,
          reason: 'session_mismatch',
          detail: 'rule s: token session differs from path {session}',
          route: {
            template: '/t/{tenant}/s/{session}/*',
            params: { tenant: 'acme', session: 's-9' },
          },
        },
      }),
      'warn',
    ],
    [
      'a template without captures',
      event({ decision: { route: { template: '/healthz', params: {} } } }),
      'info',
    ],
    ['a deny without facts (malformed request)', event({ facts: undefined }), 'info'],
    [
      'a malformed traceparent (upper-case hex): no trace_id or span_id',
      event({ facts: { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01' } }),
      'info',
    ],
    [
      'hostile strings: quotes, backslashes, control characters, non-ASCII, a lone surrogate',
      event({
        facts: {
          method: 'G"E\\T',
          path: '/a\u0000b\n\u2028c/é/\ud800?x',
          requestId: 'id "with" \\ quotes',
          peer: { uri: 'spiffe://example.org/\u001f' } as RequestFacts['peer'],
          traceparent: undefined,
        },
        decision: {
          route: { template: '/q"\\\u0001/{p}/é', params: { p: 'x"\n' } },
        },
      }),
      'info',
    ],
  ]
  for (const [name, e, level] of cases) {
    test(`${name}: written directly, exactly as pino writes it`, () => {
      const out = capture()
      const logger = createLogger('info', out)
      const log = decisionLogger(logger, EVERY_DECISION, { hasher: new SessionHasher(KEY) })
      log.onDecision(e)
      assert.equal(out.writes.length, 1)
      const line = out.writes[0] as string
      assert.equal(sameButTime(line), sameButTime(viaPino(e, level)))
      const parsed = JSON.parse(line)
      assert.equal(parsed.msg, 'decision')
      assert.equal(parsed.name, 'extproc-authz')
      assert.ok(!line.includes('secret'), 'the query string is never logged')
    })
  }

  test('one logger, many lines: remembered field encodings never leak into the next line', () => {
    const out = capture()
    const logger = createLogger('info', out)
    const log = decisionLogger(logger, EVERY_DECISION, { hasher: new SessionHasher(KEY) })
    const events = [
      event({}),
      event({ decision: { rule: 'other "rule"', sessionId: 's-1' } }),
      event({ facts: { method: 'POST', peer: undefined } }),
      event({
        decision: {
          allow: false,
          reason: 'no_matching_rule',
          detail: 'x',
          rule: undefined,
          route: undefined,
        },
      }),
      event({ decision: { sessionId: 's-2' } }),
      event({}),
    ]
    for (const e of events) log.onDecision(e)
    assert.equal(out.writes.length, events.length)
    events.forEach((e, i) => {
      const level = e.decision.allow ? 'info' : 'warn'
      assert.equal(sameButTime(out.writes[i] as string), sameButTime(viaPino(e, level)))
    })
  })

  test('through pino.multistream (per-line metadata), lines still arrive whole', () => {
    const out = capture()
    const logger = createLogger('info', pino.multistream([{ stream: out, level: 'info' }]))
    const log = decisionLogger(logger, undefined, { hasher: new SessionHasher(KEY) })
    log.onDecision(event({}))
    assert.equal(out.writes.length, 1)
    assert.equal(sameButTime(out.writes[0] as string), sameButTime(viaPino(event({}), 'info')))
  })
})

/** The sampling hash the log used before (FNV-1a + fmix32 of x-request-id), as a client sees it. */
function oldUnitHash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 0x1_0000_0000
}

describe('what a decision line carries about the request', () => {
  const PLANTED = 'sess-planted-5b7e1c'
  const planted = event({
    decision: {
      sessionId: PLANTED,
      route: { template: '/api/sessions/{session}/**', params: { session: PLANTED } },
    },
    facts: { path: `/api/sessions/${PLANTED}/logs#frag-${PLANTED}?sig=${PLANTED}` },
  })

  test('no raw path: the route template with each capture as its keyed hash', () => {
    const out = capture()
    const log = decisionLogger(createLogger('info', out), EVERY_DECISION, {
      hasher: new SessionHasher(KEY),
    })
    log.onDecision(planted)
    const line = out.writes.join('')
    assert.ok(!line.includes(PLANTED), line)
    assert.ok(!line.includes('frag'), 'no fragment')
    const parsed = JSON.parse(line)
    assert.equal(parsed.path, undefined)
    assert.equal(parsed.route, `/api/sessions/{session:${hmac(PLANTED)}}/**`)
    assert.equal(parsed.session, hmac(PLANTED), 'route and session hash alike: they correlate')
  })

  test('no rule matched: no path, no route, only the length of :path', () => {
    const out = capture()
    const log = decisionLogger(createLogger('info', out), EVERY_DECISION)
    const path = `/nowhere/${PLANTED}`
    log.onDecision(
      event({
        decision: {
          allow: false,
          reason: 'no_matching_rule',
          detail: 'no rule matches the method, host and path',
          rule: undefined,
          route: undefined,
        },
        facts: { path },
      }),
    )
    const parsed = JSON.parse(out.writes.join(''))
    assert.equal(parsed.route, undefined)
    assert.equal(parsed.path, undefined)
    assert.equal(parsed.path_bytes, path.length)
    assert.ok(!out.writes.join('').includes(PLANTED))
  })

  test('the hash is keyed: the same under one key (workers, restarts), another under another', () => {
    const lines = [KEY, KEY, Buffer.from('another key, at least thirty-two bytes long')].map(
      (key) => {
        const out = capture()
        decisionLogger(createLogger('info', out), EVERY_DECISION, {
          hasher: new SessionHasher(key),
        }).onDecision(planted)
        return JSON.parse(out.writes.join('')) as { session: string; route: string }
      },
    )
    const [a, b, c] = lines as [(typeof lines)[0], (typeof lines)[0], (typeof lines)[0]]
    assert.equal(a.session, b.session)
    assert.equal(a.route, b.route)
    assert.notEqual(a.session, c.session)
    assert.notEqual(a.route, c.route)
    // Not the unsalted SHA-256 prefix the log used before, which anyone could recompute.
    assert.notEqual(a.session, createHash('sha256').update(PLANTED).digest('hex').slice(0, 16))
  })
})

describe('decision log sampling', () => {
  test('the draw decides, not the request id: rates 0 and 1 draw nothing', () => {
    let draws = 0
    const draw = () => {
      draws++
      return 0.5
    }
    assert.equal(inSample(1, draw), true)
    assert.equal(inSample(0, draw), false)
    assert.equal(draws, 0)
    assert.equal(inSample(0.6, draw), true)
    assert.equal(inSample(0.4, draw), false)
    assert.equal(draws, 2)
  })

  test('a client choosing its x-request-id cannot keep its requests out of the log', () => {
    const rate = 0.25
    // 2,000 ids the client picked because the old id hash put them all outside the sample.
    const ids: string[] = []
    for (let i = 0; ids.length < 2000; i++) {
      if (oldUnitHash(`evade-${i}`) >= rate) ids.push(`evade-${i}`)
    }
    const out = capture()
    const log = decisionLogger(createLogger('info', out), {
      level: 'info',
      decisions: { allow_level: 'info', deny_level: 'warn', sample_allow: rate, sample_deny: 1 },
    })
    for (const id of ids) log.onDecision(event({ facts: { requestId: id } }))
    const logged = out.writes.length
    // Binomial(2000, 0.25): mean 500, sd 19.4; 403..597 is 5 sd either side (false alarm ~6e-7).
    assert.ok(logged >= 403 && logged <= 597, `logged ${logged} of 2000`)
    assert.equal(log.sampledOut(), 2000 - logged)
    // Denies stay at sample_deny (1): every one is logged, whatever its id.
    const before = out.writes.length
    for (const id of ids.slice(0, 200)) {
      log.onDecision(
        event({
          decision: { allow: false, reason: 'rule_denies', detail: 'rule x denies' },
          facts: { requestId: id },
        }),
      )
    }
    assert.equal(out.writes.length - before, 200)
  })
})

describe('BatchedDestination', () => {
  test('lines of a few milliseconds, across event-loop turns, reach the sink as one write, in order', async () => {
    const sink = capture()
    // The window ends when the test says so: no race between a sleep and the 5 ms timer.
    const windows: Array<{ drain: () => void; ms: number }> = []
    const d = new BatchedDestination(sink, (drain, ms) => windows.push({ drain, ms }))
    const turn = () => new Promise((r) => setImmediate(r))
    const endWindow = () => {
      const w = windows.shift()
      assert.ok(w !== undefined, 'no window pending')
      w.drain()
    }
    try {
      d.write('a\n')
      d.write('b\n')
      await turn()
      d.write('c\n')
      await turn()
      assert.deepEqual(sink.writes, [], 'nothing written before the window ends')
      assert.deepEqual(
        windows.map((w) => w.ms),
        [MAX_DELAY_MS],
        'one window for the lines of several turns',
      )
      endWindow()
      assert.deepEqual(sink.writes, ['a\nb\nc\n'])
      d.write('d\n')
      assert.equal(windows.length, 1, 'the next line opens the next window')
      endWindow()
      assert.deepEqual(sink.writes, ['a\nb\nc\n', 'd\n'])
    } finally {
      d.close()
    }
  })

  test('by default the window is a real timer: a line reaches the sink without any flush', async () => {
    let wrote: (s: string) => void = () => {}
    const written = new Promise<string>((resolve) => (wrote = resolve))
    const d = new BatchedDestination({ write: (s: string) => wrote(s) })
    // The window's timer is unref'd: this guard keeps the loop alive (and ends a hang).
    const guard = setTimeout(() => wrote('no write within 30 s'), 30_000)
    try {
      d.write('only\n')
      assert.equal(await written, 'only\n')
    } finally {
      clearTimeout(guard)
      d.close()
    }
  })

  test('a large burst is written at once (pending lines are bounded)', () => {
    const sink = capture()
    const d = new BatchedDestination(sink)
    try {
      const line = `${'x'.repeat(1023)}\n`
      for (let i = 0; i < 200; i++) d.write(line)
      assert.ok(sink.writes.length >= 3, `writes: ${sink.writes.length}`)
      assert.ok(sink.writes.every((w) => w.length <= 64 * 1024 + line.length))
    } finally {
      d.close()
    }
  })

  test('flush and flushSync hand pending lines to the sink at once', () => {
    let synced = 0
    const sink = { ...capture(), flushSync: () => synced++ }
    const d = new BatchedDestination(sink)
    try {
      d.write('a\n')
      d.flushSync()
      assert.deepEqual(sink.writes, ['a\n'])
      assert.equal(synced, 1)
      d.write('b\n')
      let called = false
      d.flush(() => {
        called = true
      })
      assert.deepEqual(sink.writes, ['a\n', 'b\n'])
      assert.ok(called)
    } finally {
      d.close()
    }
  })

  test('a process that exits or crashes right after logging loses no line (real child process)', () => {
    const logger = fileURLToPath(new URL('../../src/shared/logger.js', import.meta.url))
    for (const end of ['process.exit(3)', "throw new Error('boom')"]) {
      const script = `
        const { createLogger } = await import(${JSON.stringify(logger)})
        const log = createLogger('info')
        for (let i = 0; i < 500; i++) log.info({ i }, 'line')
        ${end}
      `
      let stdout = ''
      try {
        execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'ignore'],
        })
      } catch (err) {
        stdout = String((err as { stdout: Buffer }).stdout)
      }
      const lines = stdout.trim().split('\n')
      assert.equal(lines.length, 500, `${end}: ${lines.length} lines`)
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).i),
        Array.from({ length: 500 }, (_, i) => i),
      )
    }
  })
})
