import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_ROOT } from '../../lab/local/lab.js'
import { envoySkip } from '../helpers/envoy.js'
import { GARBAGE_TOKEN, LAB_CHALLENGE, LAB_IDS, LAB_SESSION } from './cases.js'
import { unique } from './fail-closed-cases.js'
import { type LabResponse, labRequest, type Svid } from './https-client.js'
import { type LocalLabControl, startLocalLab } from './local.js'

// What Envoy does with the processor's decision metadata and challenges, through the pinned
// Envoy: the rate-limit example (envoy/examples/local-ratelimit-by-spiffe-id.yaml) limits one
// SPIFFE ID and not another, access-log lines join the decision log by session hash, every
// unusable token gets one challenge, with decision_metadata off Envoy logs no decision, and an
// ext_proc filter that does not list the namespace in receiving_namespaces drops it.

const EXAMPLE = 'examples/local-ratelimit-by-spiffe-id.yaml'
/** The example's descriptor: the runner gets 20 requests a minute. */
const RUNNER_PER_MINUTE = 20

describe('local lab: the rate-limit example and the decision metadata through real Envoy', {
  skip: envoySkip,
  timeout: 5 * 60_000,
}, () => {
  let l: LocalLabControl
  /** Runner requests allowed before the rate-limit test: each spent a token of its bucket. */
  let runnerAllowed = 0
  before(async () => {
    l = await startLocalLab('metadata', { envoyConfig: EXAMPLE })
  })
  after(async () => {
    await l?.close()
  })
  const get = (path: string, more: Partial<Parameters<typeof labRequest>[0]> = {}) =>
    labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path, ...more })

  test('the example is envoy.yaml plus the rate-limit block, nothing else', () => {
    const lines = (f: string) => readFileSync(join(REPO_ROOT, 'envoy', f), 'utf8').split('\n')
    const example = lines(EXAMPLE)
    const begin = example.findIndex((x) => x.includes('rate limit by SPIFFE ID (begin)'))
    const end = example.findIndex((x) => x.includes('rate limit by SPIFFE ID (end)'))
    assert.ok(begin > 0 && end > begin)
    const code = (ls: string[]) => ls.filter((x) => !x.startsWith('#'))
    assert.deepEqual(
      code([...example.slice(0, begin), ...example.slice(end + 1)]),
      code(lines('envoy.yaml')),
    )
  })

  test('an access-log line carries the session hash the decision log has for that request', async () => {
    const p = l.lab.processor(0)
    const from = p.proc.mark()
    const path = unique(`/api/sessions/${LAB_SESSION}/logs`)
    const res = await get(path, { bearer: l.token(LAB_SESSION) })
    assert.equal(res.status, 200, res.body)
    runnerAllowed++
    const line = await l.accessLine(path)
    const requestId = String(line.raw.request_id)
    await p.proc.waitFor(new RegExp(`"request_id":"${requestId}"`), 10_000, from)
    const decision = p.proc
      .since(from)
      .split('\n')
      .filter((x) => x.includes(`"request_id":"${requestId}"`))
      .map((x) => JSON.parse(x) as Record<string, unknown>)[0]
    assert.ok(decision !== undefined)
    assert.equal(decision.session, line.authz.session)
    assert.match(String(line.authz.session), /^[0-9a-f]{16,64}$/)
    assert.equal(line.authz.rule, 'runner-session')
  })

  test('every unusable token gets the same 401 and challenge: error="invalid_token"', async () => {
    const otherKey = join(l.lab.keyDir, '..', 'other-key')
    l.lab.cli(['keys', 'generate', '--out', otherKey, '--bits', '2048'])
    const wrongKey = l.lab
      .cli([
        'token',
        'encrypt',
        '--public-key',
        join(otherKey, 'public.pem'),
        '--session-id',
        LAB_SESSION,
      ])
      .trim()
    const seen = new Set<string>()
    for (const bearer of [
      GARBAGE_TOKEN,
      wrongKey,
      'abc',
      'a.b.c.d.e',
      `${l.token(LAB_SESSION)}x`,
    ]) {
      const path = unique(`/api/sessions/${LAB_SESSION}/logs`)
      const res = await get(path, { bearer })
      assert.equal(res.status, 401, res.body)
      seen.add(
        `${res.status} ${String(res.headers['www-authenticate'])} ${String(res.json().reason)}`,
      )
      assert.equal((await l.accessLine(path)).authz.reason, 'token_invalid')
    }
    assert.deepEqual([...seen], [`401 ${LAB_CHALLENGE}, error="invalid_token" token_invalid`])
  })
  test('the example limits the runner SPIFFE ID (20 a minute) and not another one', async () => {
    // Interleaved, to the public rule both identities are allowed on. The bucket refills 20
    // every 60 s: a run shorter than that sees at most one refill, so at most 40 runner
    // requests pass and the last 5 of 45 cannot.
    const tally = { runner: [] as number[], other: [] as number[] }
    let limitedPath: string | undefined
    const send = async (who: 'runner' | 'other', svid: Svid): Promise<LabResponse> => {
      const path = unique('/healthz')
      const res = await get(path, { svid })
      tally[who].push(res.status)
      if (res.status === 429) limitedPath ??= path
      return res
    }
    const started = Date.now()
    for (let i = 0; i < 45; i++) {
      await send('runner', l.runner)
      await send('other', l.other)
    }
    assert.ok(Date.now() - started < 60_000, 'the run took less than one refill interval')
    const firstLimited = tally.runner.indexOf(429)
    assert.ok(
      firstLimited + runnerAllowed >= RUNNER_PER_MINUTE,
      `runner limited after ${firstLimited} requests (${runnerAllowed} allowed before)`,
    )
    assert.ok(tally.runner.filter((s) => s === 429).length >= 5, tally.runner.join())
    assert.deepEqual(new Set(tally.runner), new Set([200, 429]))
    assert.deepEqual(tally.other, Array(45).fill(200), 'the other SPIFFE ID is never limited')
    // Envoy's own 429, after an allow: the access log says both.
    assert.ok(limitedPath !== undefined)
    const line = await l.accessLine(limitedPath)
    assert.equal(line.details, 'local_rate_limited')
    assert.equal(line.status, 429)
    assert.equal(line.authz.decision, 'allow')
    assert.equal(line.authz.peer, LAB_IDS.runner)
    assert.equal(line.authz.rule, 'healthz')
    assert.equal(line.authz.reason, 'public')
  })
})

describe('local lab: decision_metadata off, through real Envoy', {
  skip: envoySkip,
  timeout: 5 * 60_000,
}, () => {
  let l: LocalLabControl
  before(async () => {
    const config = `${readFileSync(join(REPO_ROOT, 'lab', 'config.yaml'), 'utf8')}
decision_metadata:
  enabled: false
`
    l = await startLocalLab('metadata-off', { processorConfigText: config })
  })
  after(async () => {
    await l?.close()
  })

  test('Envoy logs no decision fields; status, details and the challenge are unchanged', async () => {
    const allowed = unique('/api/hello')
    const res = await labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path: allowed })
    assert.equal(res.status, 200, res.body)
    const denied = unique(`/api/sessions/${LAB_SESSION}/logs`)
    const res401 = await labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path: denied })
    assert.equal(res401.status, 401)
    assert.equal(res401.headers['www-authenticate'], LAB_CHALLENGE)
    const none = {
      decision: null,
      reason: null,
      rule: null,
      peer: null,
      identitySource: null,
      session: null,
    }
    const a = await l.accessLine(allowed)
    assert.equal(a.details, 'via_upstream')
    assert.deepEqual(a.authz, none)
    const d = await l.accessLine(denied)
    assert.equal(d.details, 'extproc_authz_token_missing')
    assert.deepEqual(d.authz, none)
  })
})

describe('local lab: an ext_proc filter that does not receive the namespace drops the metadata', {
  skip: envoySkip,
  timeout: 5 * 60_000,
}, () => {
  let l: LocalLabControl
  before(async () => {
    // envoy.yaml without metadata_options: what check-envoy's ext-proc-metadata-namespace is about.
    const shipped = readFileSync(join(REPO_ROOT, 'envoy', 'envoy.yaml'), 'utf8')
    const lines = shipped.split('\n')
    const at = lines.findIndex((x) => x.trim() === 'metadata_options:')
    assert.ok(at > 0 && lines[at + 1]?.includes('receiving_namespaces'))
    lines.splice(at, 2)
    l = await startLocalLab('metadata-unlisted', { envoyConfigText: lines.join('\n') })
  })
  after(async () => {
    await l?.close()
  })

  test('the processor sends it (on by default); Envoy writes none of it', async () => {
    const path = unique('/api/hello')
    const res = await labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path })
    assert.equal(res.status, 200, res.body)
    const line = await l.accessLine(path)
    assert.equal(line.details, 'via_upstream')
    assert.equal(line.authz.decision, null)
    assert.equal(line.authz.peer, null)
  })
})
