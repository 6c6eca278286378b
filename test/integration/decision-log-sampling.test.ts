import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { parseConfig } from '../../src/config/load-config.js'
import { exchange, newClient, requestHeaders } from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

const config = (decisions: string) => `
admin: { listen: 127.0.0.1:0 }
logging: { decisions: ${decisions} }
policy:
  rules:
    - { name: pub, path: /pub, public: true }
    - { name: no, path: /no, deny: true }
`

/** Ids whose old sampling hash (FNV-1a + fmix32 of x-request-id) put them outside `rate`. */
function evadingIds(count: number, rate: number): string[] {
  const ids: string[] = []
  for (let i = 0; ids.length < count; i++) {
    const id = `evade-${i}`
    let h = 0x811c9dc5
    for (let j = 0; j < id.length; j++) h = Math.imul(h ^ id.charCodeAt(j), 0x01000193)
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    h ^= h >>> 16
    if ((h >>> 0) / 0x1_0000_0000 >= rate) ids.push(id)
  }
  return ids
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

describe('decision log sampling (logging.decisions) through the real server', () => {
  let srv: TestServer
  let client: grpc.Client
  before(async () => {
    srv = await startTestServer(config('{ sample_allow: 0.25, sample_deny: 1, deny_level: error }'))
    client = newClient(srv.port)
  })
  after(async () => {
    client.close()
    await srv.close()
  })

  const send = async (path: string, ids: readonly string[]) => {
    for (const id of ids) {
      await exchange(client, [
        requestHeaders({ ':method': 'GET', ':path': path, 'x-request-id': id }),
      ])
    }
  }
  const decisionLines = () => srv.logs.lines.filter((l) => l.msg === 'decision')
  const sampledOut = async () =>
    value(
      await (await fetch(`http://127.0.0.1:${srv.server.adminPort}/metrics`)).text(),
      'extproc_authz_decision_log_sampled_out_total',
    )

  test('denies all logged at their level; allows sampled near the rate; the rest counted', async () => {
    const allowIds = Array.from({ length: 400 }, (_, i) => `allow-${i}`)
    const denyIds = Array.from({ length: 40 }, (_, i) => `deny-${i}`)
    await send('/pub', allowIds)
    await send('/no', denyIds)
    const lines = decisionLines()
    const denies = lines.filter((l) => l.decision === 'deny')
    const allows = lines.filter((l) => l.decision === 'allow')
    assert.equal(denies.length, 40)
    assert.ok(
      denies.every((l) => l.level === 50),
      'deny_level: error (pino 50)',
    )
    assert.ok(
      allows.every((l) => l.level === 30),
      'allow_level defaults to info (pino 30)',
    )
    // Expected 100 of 400 (sd ~8.7): 60..140 is more than 4.5 sd either side.
    assert.ok(allows.length >= 60 && allows.length <= 140, `allows logged: ${allows.length}`)
    assert.equal(await sampledOut(), 400 - allows.length)

    // The client does not choose: ids the old x-request-id hash left out of a 25% sample every
    // time are logged at the rate like any others.
    srv.logs.raw.length = 0
    const evading = evadingIds(400, 0.25)
    await send('/pub', evading)
    const logged = decisionLines().length
    assert.ok(logged >= 60 && logged <= 140, `evading ids logged: ${logged}`)
  })

  test('rates 0 and 1 are exact, and a reload changes them without a restart', async () => {
    // The test server listens on port 0: so does the reloaded config (listen is restart-only).
    const next = (decisions: string) => ({
      ...parseConfig(config(decisions), 'reload.yaml'),
      listen: '127.0.0.1:0',
    })
    await srv.server.applyConfig(next('{ sample_allow: 0, sample_deny: 0 }'))
    srv.logs.raw.length = 0
    const before = await sampledOut()
    await send('/pub', ['a', 'b', 'c'])
    await send('/no', ['d', 'e'])
    assert.equal(decisionLines().length, 0)
    assert.equal((await sampledOut()) - before, 5)
    await srv.server.applyConfig(next('{ sample_allow: 1 }'))
    const ids = Array.from({ length: 50 }, (_, i) => `all-${i}`)
    await send('/pub', ids)
    await send('/no', ['f'])
    assert.deepEqual(
      decisionLines().map((l) => l.request_id),
      [...ids, 'f'],
    )
  })
})
