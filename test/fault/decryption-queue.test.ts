import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { newClient } from '../helpers/extproc-client.js'
import { mint, requestMix, runnerKey, tempDir, writeConfig } from './fixture.js'
import type { Probe, World } from './oracle.js'
import { assertFailClosed, type SteadyLoad, startSteadyLoad, type Tally } from './steady-load.js'

// A flood of unique tokens (each needs an RSA decryption) far beyond max_pending_decryptions,
// beside the steady mix. Promised: the excess is answered 503 overloaded at once (never allowed,
// never a dropped stream); cached tokens and SPIFFE-only requests are not held up behind it; the
// queue drains and fresh tokens decrypt again when the flood stops.
const MAX_PENDING = 2

function onlyOverloadedTokenMisses(t: Tally): void {
  const other = t.missedAllows.filter(
    (v) =>
      !(v.kind.startsWith('token-unique') || v.kind === 'flood-valid') ||
      v.got !== 'deny overloaded',
  )
  assert.deepEqual(other.slice(0, 5), [], 'only uncached token requests may be shed, as overloaded')
}

describe('fault injection: decryption queue saturated (real server process)', () => {
  const A = runnerKey('A')
  const dir = tempDir()
  const keyFile = join(dir, 'runner.pem')
  const world: World = { keys: new Map([['A', 'in']]), policy: 'v1', epoch: 0 }
  let server: ChildServer
  let client: grpc.Client
  let floodClient: grpc.Client
  let load: SteadyLoad

  before(async () => {
    writeFileSync(keyFile, A.privateKey, { mode: 0o600 })
    server = await startChildServer(
      writeConfig(dir, { keyFile, maxPendingDecryptions: MAX_PENDING }),
    )
    client = newClient(server.port)
    floodClient = newClient(server.port)
    load = startSteadyLoad(client, world, requestMix(A, []))
    await load.allowedAgain('token-cached', 0)
  })
  after(async () => {
    await load?.stop()
    client?.close()
    floodClient?.close()
    assert.equal(await server?.stop(), 0, 'clean exit after SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  test('a flood of unique tokens is shed as 503 overloaded; cached traffic is served; recovery', async () => {
    let n = 0
    const floodProbe = (): Probe => {
      const s = `flood-${++n}`
      return n % 4 === 0
        ? {
            kind: 'flood-garbage',
            path: `/api/sessions/${s}/x`,
            token: { value: randomBytes(256).toString('base64') },
          }
        : { kind: 'flood-valid', path: `/api/sessions/${s}/x`, token: mint(A, s) }
    }
    const flood = startSteadyLoad(floodClient, world, floodProbe, { concurrency: 48 })
    const since = Date.now()
    while ((flood.tally.reasons.overloaded ?? 0) < 50) {
      assert.ok(Date.now() - since < 30_000, 'the flood saturates the queue')
      await new Promise((r) => setTimeout(r, 20))
    }
    // While the queue is full, cached tokens and SPIFFE-only requests are still allowed.
    const during = Date.now()
    await load.allowedAgain('token-cached', during)
    await load.allowedAgain('spiffe-allowed', during)
    const floodTally = await flood.stop()
    assertFailClosed(floodTally, server)
    onlyOverloadedTokenMisses(floodTally)

    const metrics = await fetch(`http://127.0.0.1:${server.adminPort}/metrics`).then((r) =>
      r.text(),
    )
    const shed = Number(/^extproc_authz_token_overloaded_total (\d+)/m.exec(metrics)?.[1])
    assert.ok(shed >= (floodTally.reasons.overloaded ?? 0), `overloaded counted: ${shed}`)

    await load.allowedAgain('token-unique-A', Date.now()) // fresh decryptions again
    assertFailClosed(load.tally, server)
    onlyOverloadedTokenMisses(load.tally)
  })
})
