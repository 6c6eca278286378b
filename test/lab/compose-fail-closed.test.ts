import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { GARBAGE_TOKEN, LAB_CASES, LAB_IDS, LAB_SESSION } from './cases.js'
import {
  COUNT_PORT,
  compose,
  down,
  ENVOY_PORT,
  runnerToken,
  state,
  up,
  volumeFile,
  waitForState,
} from './compose.js'
import {
  type LabRequest,
  labRequest,
  msUntil200,
  resetCount,
  type Svid,
  upstreamCount,
} from './https-client.js'

// Through real Envoy (envoyproxy/envoy, envoy/envoy.yaml): an allowed request reaches the
// upstream; every deny, and every request while the processor is killed or hung, reaches
// nothing. The upstream's counter is read on a port Envoy does not route.

/** After the processor is back, allowed traffic must flow again within this (Envoy's DNS
 * refresh and health-check interval are 5 s each; the processor starts in about 1-2 s). */
const RECOVERY_BOUND_MS = 15_000
/** envoy.yaml message_timeout: a hung processor answers 504 no sooner than this. */
const MESSAGE_TIMEOUT_MS = 1000
/** Requests sent in each outage. */
const OUTAGE_REQUESTS = 5

describe('lab: fail closed through real Envoy', { timeout: 20 * 60_000 }, () => {
  let ca: string
  let runner: Svid
  let other: Svid
  let token: string
  const base = (): Pick<LabRequest, 'port' | 'ca'> => ({ port: ENVOY_PORT, ca })
  const allowed = () => labRequest({ ...base(), svid: runner, path: '/api/hello' })

  /** Whatever a failed test left behind, the processor is running again. */
  function restore(): void {
    const s = state('extproc-authz')
    if (s === 'paused') compose(['unpause', 'extproc-authz'])
    else if (s !== 'running') compose(['start', 'extproc-authz'])
  }

  before(async () => {
    up()
    const file = (f: string) => volumeFile(`/etc/extproc-authz/certs/${f}`)
    ca = file('bundle.pem')
    runner = { cert: file('client.pem'), key: file('client-key.pem') }
    other = { cert: file('processor.pem'), key: file('processor-key.pem') }
    token = runnerToken(LAB_SESSION)
    // Envoy starts after the processor is healthy; give its first health check time to pass.
    await msUntil200(allowed, 60_000)
  })
  after(() => {
    down()
  })

  for (const c of LAB_CASES) {
    test(`${c.name}: ${c.status}${c.reason ? ` ${c.reason}` : ''}`, async () => {
      await resetCount(COUNT_PORT)
      const bearer = c.token === 'valid' ? token : c.token === 'garbage' ? GARBAGE_TOKEN : undefined
      const res = await labRequest({
        ...base(),
        svid: c.caller === 'runner' ? runner : other,
        method: c.method,
        path: c.path,
        ...(bearer === undefined ? {} : { bearer }),
      })
      assert.equal(res.status, c.status, res.body)
      const body = res.json()
      if (c.status === 200) {
        assert.equal(body.upstream, 'reached')
        assert.equal(body.spiffe_id, LAB_IDS.runner, 'identity header set by the processor')
        assert.equal(body.session_id, c.session ?? null)
        assert.equal(body.authorization_present, false, 'the token never reaches the upstream')
        assert.equal(await upstreamCount(COUNT_PORT), 1)
      } else {
        assert.equal(body.reason, c.reason)
        assert.equal(await upstreamCount(COUNT_PORT), 0, 'a deny reaches nothing')
      }
    })
  }

  test('no client certificate: refused in the TLS handshake, reaches nothing', async () => {
    await resetCount(COUNT_PORT)
    await assert.rejects(labRequest({ ...base(), path: '/api/hello' }), (err: Error) => {
      // TLS 1.3: the client sees the server's certificate_required alert, or the reset after it.
      assert.match(
        `${(err as NodeJS.ErrnoException).code} ${err.message}`,
        /CERTIFICATE_REQUIRED|ECONNRESET|socket hang up|EPIPE/i,
      )
      return true
    })
    assert.equal(await upstreamCount(COUNT_PORT), 0)
  })

  test('processor killed (SIGKILL): every request 500, nothing reaches upstream; restart recovers', async (t) => {
    try {
      compose(['kill', '-s', 'SIGKILL', 'extproc-authz'])
      await waitForState('extproc-authz', 'exited')
      await resetCount(COUNT_PORT)
      for (let i = 0; i < OUTAGE_REQUESTS; i++) {
        const res = await allowed()
        assert.equal(res.status, 500, `request ${i}: ${res.body}`)
      }
      assert.equal(await upstreamCount(COUNT_PORT), 0, 'nothing reached the upstream')
      compose(['start', 'extproc-authz'])
      const ms = await msUntil200(allowed, RECOVERY_BOUND_MS)
      t.diagnostic(`allowed traffic back ${Math.round(ms)} ms after docker compose start`)
    } finally {
      restore()
    }
  })

  test('processor hung (docker compose pause): 504 after message_timeout, nothing reaches upstream; unpause recovers', async (t) => {
    try {
      compose(['pause', 'extproc-authz'])
      await waitForState('extproc-authz', 'paused')
      await resetCount(COUNT_PORT)
      for (let i = 0; i < OUTAGE_REQUESTS; i++) {
        const res = await allowed()
        assert.equal(res.status, 504, `request ${i}: ${res.body}`)
        // A lower bound only: the 504 is Envoy's message timer, not an early failure.
        assert.ok(res.ms >= MESSAGE_TIMEOUT_MS * 0.9, `answered after ${res.ms} ms`)
      }
      assert.equal(await upstreamCount(COUNT_PORT), 0, 'nothing reached the upstream')
      compose(['unpause', 'extproc-authz'])
      const ms = await msUntil200(allowed, RECOVERY_BOUND_MS)
      t.diagnostic(`allowed traffic back ${Math.round(ms)} ms after docker compose unpause`)
    } finally {
      restore()
    }
  })

  test('after the outages, every case still gets its answer', async () => {
    await resetCount(COUNT_PORT)
    assert.equal((await allowed()).status, 200)
    const denied = await labRequest({ ...base(), svid: other, path: '/api/hello' })
    assert.equal(denied.status, 403)
    assert.equal(await upstreamCount(COUNT_PORT), 1)
  })
})
