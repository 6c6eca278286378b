import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Registry } from 'prom-client'
import type { Decision } from '../../src/authz/decision.js'
import type { DecisionEvent } from '../../src/extproc/process-stream.js'
import { DecisionMetrics } from '../../src/observe/decision-metrics.js'

function scrapeValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  assert.ok(line !== undefined, `no ${series} in:\n${text}`)
  return Number(line.slice(series.length + 1))
}

describe('decision metrics kept as plain numbers, read at scrape time', () => {
  // The metrics read the outcome, reason, rule and duration only; the facts are not needed.
  const event = (allow: boolean, reason: string, durationMs: number, rule?: string) =>
    ({ decision: { allow, reason, rule } as unknown as Decision, durationMs }) as DecisionEvent

  test('counts by outcome/reason/rule and a cumulative histogram with Prometheus le semantics', async () => {
    const m = new DecisionMetrics()
    const registry = new Registry()
    m.register(registry, 't_')
    m.onDecision(event(true, 'public', 0.05, 'pub')) // exactly 50 µs
    m.onDecision(event(true, 'public', 0.3, 'pub'))
    m.onDecision(event(false, 'no_matching_rule', 2500))
    let text = await registry.metrics()
    assert.equal(
      scrapeValue(text, 't_decisions_total{decision="allow",reason="public",rule="pub"}'),
      2,
    )
    assert.equal(
      scrapeValue(text, 't_decisions_total{decision="deny",reason="no_matching_rule",rule=""}'),
      1,
    )
    const bucket = (d: string, le: string) =>
      scrapeValue(text, `t_decision_duration_seconds_bucket{decision="${d}",le="${le}"}`)
    assert.equal(bucket('allow', '0.00005'), 1, 'a value on a bound counts in that bucket')
    assert.equal(bucket('allow', '0.00025'), 1)
    assert.equal(bucket('allow', '0.0005'), 2, 'buckets are cumulative')
    assert.equal(bucket('allow', '+Inf'), 2)
    assert.equal(bucket('deny', '1'), 0, '2.5 s is above every bound')
    assert.equal(bucket('deny', '+Inf'), 1)
    assert.equal(scrapeValue(text, 't_decision_duration_seconds_count{decision="deny"}'), 1)
    assert.equal(scrapeValue(text, 't_decision_duration_seconds_sum{decision="deny"}'), 2.5)

    // A second scrape after more decisions shows totals, not increments since the last scrape.
    m.onDecision(event(true, 'public', 0.01, 'pub'))
    text = await registry.metrics()
    assert.equal(
      scrapeValue(text, 't_decisions_total{decision="allow",reason="public",rule="pub"}'),
      3,
    )
    assert.equal(bucket('allow', '0.00005'), 2)
  })
})
