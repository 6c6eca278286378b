import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { Decision } from '../src/authz/decision.js'
import type { RequestFacts } from '../src/authz/request-facts.js'
import type { DecisionEvent, StreamObserver } from '../src/extproc/process-stream.js'
import { createLogger, type Logger } from '../src/shared/logger.js'

// Micro-benchmark of the decision log's direct write: ns per decision for the line kinds a
// busy processor writes, into a destination that drops the line (the write itself is not
// measured), and for allows at a 1% sample (mostly the cost of leaving a line out). With --baseline, another build's decision-log.js (e.g. the previous commit's dist)
// runs in the same process, rounds interleaved, so both see the same machine load.
//
//   node dist/bench/decision-log.js [--baseline /path/to/dist/src/observe/decision-log.js]
//                                   [--rounds 7] [--lines 200000]

type MakeLog = (root: Logger, logging?: unknown) => StreamObserver

const logging = (sampleAllow: number) => ({
  level: 'info',
  decisions: { allow_level: 'info', deny_level: 'warn', sample_allow: sampleAllow, sample_deny: 1 },
})

function event(decision: Partial<Decision>, facts: Partial<RequestFacts>): DecisionEvent {
  return {
    decision: {
      allow: true,
      reason: 'allowed',
      rule: 'sessions',
      spiffeId: 'spiffe://example.org/ns/ci/sa/runner',
      sessionId: undefined,
      ...decision,
    } as Decision,
    facts: {
      method: 'GET',
      path: '/api/x',
      segments: undefined,
      host: 'api.example.org',
      peer: { uri: 'spiffe://example.org/ns/ci/sa/runner' } as RequestFacts['peer'],
      bearer: undefined,
      requestId: '2f1e7c8a-61b4-4d6e-9a51-0c1f3e5d7b92',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      grpc: false,
      ...facts,
    },
    durationMs: 0.0123,
  }
}

/** 64 runner sessions, as a cached-token workload sends them over and over. */
const SESSIONS = Array.from({ length: 64 }, (_, i) => `sess-${String(i).padStart(4, '0')}`)

const KINDS: Record<string, (i: number) => DecisionEvent> = {
  'runner allow, 1% sampled (most left out)': (i) => {
    const s = SESSIONS[i & 63] as string
    return event(
      { sessionId: s, route: { template: '/api/sessions/{session}/**', params: { session: s } } },
      {
        path: `/api/sessions/${s}/logs`,
        requestId: `2f1e7c8a-61b4-4d6e-9a51-${String(i).padStart(12, '0')}`,
      },
    )
  },
  'spiffe allow': () =>
    event(
      { rule: 'api', route: { template: '/api/**', params: {} } },
      { path: '/api/things/42?x=1' },
    ),
  'runner allow (session, capture)': (i) => {
    const s = SESSIONS[i & 63] as string
    return event(
      { sessionId: s, route: { template: '/api/sessions/{session}/**', params: { session: s } } },
      { path: `/api/sessions/${s}/logs` },
    )
  },
  'deny, no rule': () =>
    event(
      {
        allow: false,
        reason: 'no_matching_rule',
        rule: undefined,
        detail: 'no rule matches the method, host and path',
      } as Partial<Decision>,
      { path: '/nowhere/at/all' },
    ),
}

function nsPerLine(
  make: MakeLog,
  kind: (i: number) => DecisionEvent,
  lines: number,
  sampleAllow: number,
): number {
  const sink = { write: (_: string) => true }
  const log = make(createLogger('info', sink), logging(sampleAllow))
  // Prebuilt events: the loop measures the log, not the event construction.
  const events = Array.from({ length: 256 }, (_, i) => kind(i))
  for (let i = 0; i < 2000; i++) log.onDecision(events[i & 255] as DecisionEvent) // warm up
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < lines; i++) log.onDecision(events[i & 255] as DecisionEvent)
  return Number(process.hrtime.bigint() - t0) / lines
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      baseline: { type: 'string' },
      rounds: { type: 'string', default: '7' },
      lines: { type: 'string', default: '200000' },
    },
  })
  const rounds = Number(values.rounds)
  const lines = Number(values.lines)
  const current = (await import('../src/observe/decision-log.js')).decisionLogger as MakeLog
  const impls: Array<[string, MakeLog]> = [['current', current]]
  if (values.baseline !== undefined) {
    const mod = (await import(pathToFileURL(values.baseline).href)) as { decisionLogger: MakeLog }
    impls.unshift(['baseline', mod.decisionLogger])
  }
  const rows: string[] = [
    `| line | ${impls.map(([n]) => `${n} ns/line`).join(' | ')} |${impls.length > 1 ? ' current ÷ baseline |' : ''}`,
    `|---|${impls.map(() => '---|').join('')}${impls.length > 1 ? '---|' : ''}`,
  ]
  for (const [name, kind] of Object.entries(KINDS)) {
    const samples = impls.map(() => [] as number[])
    for (let r = 0; r < rounds; r++) {
      // Alternate which runs first, so neither always gets the warmer cache.
      const order = r % 2 === 0 ? impls.map((_, i) => i) : impls.map((_, i) => impls.length - 1 - i)
      for (const i of order)
        samples[i]?.push(
          nsPerLine(
            (impls[i] as [string, MakeLog])[1],
            kind,
            lines,
            name.includes('1%') ? 0.01 : 1,
          ),
        )
    }
    const meds = samples.map(median)
    const ratio =
      meds.length > 1 ? ` ${((meds[1] as number) / (meds[0] as number)).toFixed(2)} |` : ''
    rows.push(`| ${name} | ${meds.map((m) => m.toFixed(0)).join(' | ')} |${ratio}`)
  }
  process.stdout.write(`${rows.join('\n')}\n(median of ${rounds} rounds of ${lines} lines)\n`)
}

await main()
