import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { GARBAGE_TOKEN, LAB_CASES, LAB_IDS, LAB_SESSION } from './cases.js'
import { type LabResponse, labRequest, msUntil200 } from './https-client.js'
import type { LabControl } from './lab-control.js'

// The cases both labs prove through real Envoy, whichever way the processor is run (compose
// containers or local processes): every answer is asserted by status, JSON reason, Envoy's
// %RESPONSE_CODE_DETAILS% and an unchanged upstream counter for everything not allowed.

/** After the processor is back, allowed traffic must flow again within this: a restart takes
 * 1-3 s on a busy 2-core machine, Envoy reconnects at once (health checks every 2 s). */
export const RECOVERY_BOUND_MS = 20_000
/** envoy.yaml message_timeout: a hung processor answers 504 no sooner than this. */
export const MESSAGE_TIMEOUT_MS = 1000
/** Requests sent in each outage. */
const OUTAGE_REQUESTS = 4

/** A path no earlier request used, so its access-log line is its own. */
export function unique(path: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}n=${randomUUID()}`
}

export function registerFailClosedCases(lab: () => LabControl): void {
  const get = (path: string, more: Partial<Parameters<typeof labRequest>[0]> = {}) => {
    const l = lab()
    return labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path, ...more })
  }
  /** Sends, then asserts the upstream counter moved by `reached` (0 for every non-allow). */
  async function counted(reached: number, send: () => Promise<LabResponse>) {
    const before = await lab().upstreamCount()
    const res = await send()
    assert.equal(await lab().upstreamCount(), before + reached, `upstream hits for ${res.status}`)
    return res
  }

  for (const c of LAB_CASES) {
    test(`${c.name}: ${c.status}${c.reason ? ` ${c.reason}` : ''}`, async () => {
      const l = lab()
      const bearer =
        c.token === 'valid'
          ? l.token(LAB_SESSION)
          : c.token === 'garbage'
            ? GARBAGE_TOKEN
            : undefined
      const path = unique(c.path)
      const res = await counted(c.status === 200 ? 1 : 0, () =>
        get(path, {
          svid: c.caller === 'runner' ? l.runner : l.other,
          method: c.method,
          ...(bearer === undefined ? {} : { bearer }),
        }),
      )
      assert.equal(res.status, c.status, res.body)
      assert.equal(res.headers['www-authenticate'], c.challenge, 'the RFC 6750 challenge, exactly')
      const body = res.json()
      const line = await l.accessLine(path)
      if (c.status === 200) {
        assert.equal(body.upstream, 'reached')
        assert.equal(body.spiffe_id, LAB_IDS.runner, 'identity header set by the processor')
        assert.equal(body.session_id, c.session ?? null)
        assert.equal(body.authorization_present, false, 'the token never reaches the upstream')
        assert.equal(line.details, 'via_upstream')
      } else {
        assert.equal(body.reason, c.reason)
        assert.equal(line.details, `extproc_authz_${c.reason}`)
      }
      // The decision as Envoy's access log has it, from the processor's dynamic metadata.
      const { session, ...authz } = line.authz
      assert.deepEqual(authz, {
        decision: c.status === 200 ? 'allow' : 'deny',
        reason: c.reason ?? 'allowed',
        rule: c.rule ?? null,
        peer: c.caller === 'runner' ? LAB_IDS.runner : LAB_IDS.other,
        identitySource: 'peer_certificate',
      })
      if (c.session === undefined) assert.equal(session, null)
      else {
        // The decision logs' session hash, never the session id.
        assert.match(String(session), /^[0-9a-f]{16,64}$/)
        assert.ok(!String(session).includes(c.session))
      }
      assert.ok(!JSON.stringify(line.raw).includes(bearer ?? '\u0000'), 'no token in the log')
    })
  }

  test('a JWE runner token (RSA-OAEP-256) over mTLS is allowed for its session', async () => {
    const l = lab()
    const res = await counted(1, () =>
      get(unique(`/api/sessions/${LAB_SESSION}/logs`), { bearer: l.jwe(LAB_SESSION, '5m') }),
    )
    assert.equal(res.status, 200, res.body)
    assert.equal(res.json().session_id, LAB_SESSION)
    assert.equal(res.json().authorization_present, false)
  })

  test('a client-sent identity header is replaced, never passed upstream', async () => {
    const res = await counted(1, () =>
      get(unique('/api/hello'), {
        headers: { 'x-spiffe-id': 'spiffe://example.org/ns/prod/sa/admin' },
      }),
    )
    assert.equal(res.status, 200, res.body)
    assert.equal(res.json().spiffe_id, LAB_IDS.runner)
  })

  test('no client certificate: refused in the TLS handshake, reaches nothing', async () => {
    const l = lab()
    const before = await l.upstreamCount()
    await assert.rejects(
      labRequest({ port: l.envoyPort, ca: l.ca, path: '/api/hello' }),
      (err: Error) => {
        // TLS 1.3: the client sees the server's certificate_required alert, or the reset after it.
        assert.match(
          `${(err as NodeJS.ErrnoException).code} ${err.message}`,
          /CERTIFICATE_REQUIRED|ECONNRESET|socket hang up|EPIPE/i,
        )
        return true
      },
    )
    assert.equal(await l.upstreamCount(), before)
  })

  test('processor killed (SIGKILL): 500 ext_proc_error_gRPC_error_14, nothing reaches upstream; restart recovers', async (t) => {
    const l = lab()
    try {
      await l.kill()
      for (let i = 0; i < OUTAGE_REQUESTS; i++) {
        const path = unique('/api/hello')
        const res = await counted(0, () => get(path))
        assert.equal(res.status, 500, `request ${i}: ${res.body}`)
        // UNAVAILABLE: the connection is refused (or reset); never a pass.
        assert.match(await l.details(path), /^ext_proc_error_gRPC_error_14/)
      }
      await l.restart()
      const ms = await msUntil200(() => get('/api/hello'), RECOVERY_BOUND_MS)
      t.diagnostic(`allowed traffic back ${Math.round(ms)} ms after the processor was ready again`)
    } finally {
      await l.resume().catch(() => {})
    }
  })

  test('processor hung (SIGSTOP): 504 after message_timeout (500 connect timeout on a new connection), nothing reaches upstream; SIGCONT recovers', async (t) => {
    const l = lab()
    try {
      await l.hang()
      const seen: string[] = []
      for (let i = 0; i < OUTAGE_REQUESTS; i++) {
        const path = unique('/api/hello')
        const res = await counted(0, () => get(path))
        const details = await l.details(path)
        seen.push(`${res.status} ${details.slice(0, 60)}`)
        if (res.status === 504) {
          // A stream on the open connection: Envoy's message timer, not an early failure.
          assert.ok(res.ms >= MESSAGE_TIMEOUT_MS * 0.9, `answered after ${res.ms} ms`)
          assert.equal(details, 'ext_proc_error_per-message_timeout_exceeded')
        } else {
          // The connection to the stopped process is given up after some seconds (health
          // checks fail, outlier ejection): a stream then needs a new connection, whose TLS
          // handshake the stopped process never finishes (connect_timeout 0.25 s), or is reset
          // with the old one. Either is UNAVAILABLE to ext_proc: 500.
          assert.equal(res.status, 500, `request ${i}: ${res.body}`)
          assert.match(details, /^ext_proc_error_gRPC_error_14\{/)
        }
      }
      t.diagnostic(seen.join(' | '))
      await l.resume()
      const ms = await msUntil200(() => get('/api/hello'), RECOVERY_BOUND_MS)
      t.diagnostic(`allowed traffic back ${Math.round(ms)} ms after SIGCONT`)
    } finally {
      await l.resume().catch(() => {})
    }
  })

  test('after the outages, every case still gets its answer', async () => {
    const l = lab()
    assert.equal((await counted(1, () => get('/api/hello'))).status, 200)
    assert.equal((await counted(0, () => get('/api/hello', { svid: l.other }))).status, 403)
  })
}
