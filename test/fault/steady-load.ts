import assert from 'node:assert/strict'
import type * as grpc from '@grpc/grpc-js'
import { exchange, requestHeaders } from '../helpers/extproc-client.js'
import { combine, expected, type Probe, type Verdict, type World } from './oracle.js'

// Closed-loop load through the project's ext_proc test client: `concurrency` streams always in
// flight, each answer judged against the oracle for the world in force while it was open.

export interface Violation {
  readonly kind: string
  readonly path: string
  readonly expected: Verdict
  readonly got: string
}

export interface Tally {
  total: number
  allows: number
  denies: number
  /** Streams that ended without a decision (a gRPC error: Envoy would answer 500). */
  errors: number
  /** Allowed although the oracle says deny: the one outcome that must never happen. */
  readonly wrongAllows: Violation[]
  /** Denied although the oracle says allow (fail closed, but unpromised). */
  readonly missedAllows: Violation[]
  /** Denies without an explicit 4xx/5xx status, reason and details. */
  readonly unexplainedDenies: Violation[]
  readonly reasons: Record<string, number>
  readonly lastAllowAt: Map<string, number>
}

export interface SteadyLoad {
  readonly tally: Tally
  /** Resolves once a `kind` request that started after `since` was allowed; throws at `ms`. */
  allowedAgain(kind: string, since: number, ms?: number): Promise<number>
  stop(): Promise<Tally>
}

function explicitDeny(r: NonNullable<Awaited<ReturnType<typeof exchange>>['responses'][0]>) {
  const ir = r.immediate_response
  if (!ir) return undefined
  const code = ir.status?.code
  let reason: unknown
  try {
    reason = JSON.parse(Buffer.from(ir.body ?? Buffer.alloc(0)).toString('utf8')).reason
  } catch {
    reason = undefined
  }
  // The status arrives as an envoy.type.v3.StatusCode enum name; OK/Continue/empty would let
  // Envoy answer 200 (FACTS: ImmediateResponse without a status).
  const named = typeof code === 'string' && code !== 'Empty' && code !== 'OK' && code !== 'Continue'
  const ok = named && typeof reason === 'string' && (ir.details ?? '') !== ''
  return { ok, reason: typeof reason === 'string' ? reason : 'none', code: String(code) }
}

export function startSteadyLoad(
  client: grpc.Client,
  world: World,
  next: () => Probe,
  { concurrency = 6 } = {},
): SteadyLoad {
  const tally: Tally = {
    total: 0,
    allows: 0,
    denies: 0,
    errors: 0,
    wrongAllows: [],
    missedAllows: [],
    unexplainedDenies: [],
    reasons: {},
    lastAllowAt: new Map(),
  }
  let stopping = false
  const one = async () => {
    const p = next()
    const before = expected(p, world)
    const started = Date.now()
    const headers: Record<string, string> = {
      ':method': 'GET',
      ':path': p.path,
      ':authority': 'api.example.org',
    }
    if (p.token !== undefined) headers.authorization = `Bearer ${p.token.value}`
    const attributes =
      p.peer === undefined ? undefined : { 'connection.uri_san_peer_certificate': p.peer }
    const { responses, status } = await exchange(client, [
      requestHeaders(headers, attributes === undefined ? {} : { attributes }),
    ])
    const want = combine(before, expected(p, world))
    tally.total++
    const r = responses[0]
    const violation = (got: string) => ({ kind: p.kind, path: p.path, expected: want, got })
    if (r?.request_headers) {
      tally.allows++
      tally.lastAllowAt.set(p.kind, started)
      if (want === 'deny') tally.wrongAllows.push(violation('allow'))
    } else if (r?.immediate_response) {
      tally.denies++
      const d = explicitDeny(r)
      tally.reasons[d?.reason ?? 'none'] = (tally.reasons[d?.reason ?? 'none'] ?? 0) + 1
      if (!d?.ok) tally.unexplainedDenies.push(violation(`deny ${d?.code}`))
      if (want === 'allow') tally.missedAllows.push(violation(`deny ${d?.reason}`))
    } else {
      tally.errors++
      tally.reasons[`grpc-${status.code}`] = (tally.reasons[`grpc-${status.code}`] ?? 0) + 1
    }
  }
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopping) await one()
  })
  return {
    tally,
    async allowedAgain(kind, since, ms = 20_000) {
      const end = Date.now() + ms
      for (;;) {
        const at = tally.lastAllowAt.get(kind)
        if (at !== undefined && at >= since) return at - since
        if (Date.now() > end) throw new Error(`${kind} not allowed again within ${ms} ms`)
        await new Promise((r) => setTimeout(r, 25))
      }
    },
    async stop() {
      stopping = true
      await Promise.all(loops)
      return tally
    },
  }
}

/** What every fault run asserts: alive, no wrong allow, every deny explicit, no dropped stream. */
export function assertFailClosed(t: Tally, server: { exit(): unknown }): void {
  assert.equal(server.exit(), undefined, 'the server process is still running')
  assert.ok(t.total > 0, 'load was applied')
  assert.deepEqual(t.wrongAllows.slice(0, 5), [], 'no allow the policy in force would deny')
  assert.deepEqual(t.unexplainedDenies.slice(0, 5), [], 'every deny carries an explicit status')
  assert.equal(t.errors, 0, `streams without a decision: ${JSON.stringify(t.reasons)}`)
}
