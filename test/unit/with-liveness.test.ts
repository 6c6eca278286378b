import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseLiveIds } from '../../src/liveness/parse-live-ids.js'
import { type LivenessCheck, withLiveness } from '../../src/liveness/with-liveness.js'
import type {
  RunnerCredential,
  RunnerCredentialResolver,
} from '../../src/tokens/runner-credential.js'

// Test fixture for the token step (issue 3): yields a fixed credential, decrypting nothing.
const fixedToken = (cred: RunnerCredential, async = false): RunnerCredentialResolver => ({
  resolve: () => (async ? Promise.resolve(cred) : cred),
})
const facts = { bearer: 'a-token' }
const parsed = parseLiveIds('sess-live\n')
const live = parsed.ok ? parsed.ids : new Set<string>()
const fileSet: LivenessCheck = { check: (id) => (live.has(id) ? 'live' : 'gone') }
const valid = (sessionId: string): RunnerCredential => ({ state: 'valid', sessionId, keyId: 'k1' })

test('live session passes synchronously when both are sync', () => {
  const out = withLiveness(fixedToken(valid('sess-live')), fileSet).resolve(facts)
  assert.deepEqual(out, valid('sess-live'))
})

test('gone session -> session_not_live', () => {
  const out = withLiveness(fixedToken(valid('sess-old')), fileSet).resolve(facts)
  assert.equal('state' in out && out.state === 'failed' && out.reason, 'session_not_live')
})

test('registry failure (throw or rejection) fails closed with session_registry_unavailable', async () => {
  const throwing: LivenessCheck = {
    check: () => {
      throw new Error('down')
    },
  }
  const rejecting: LivenessCheck = { check: () => Promise.reject(new Error('down')) }
  for (const reg of [throwing, rejecting]) {
    const out = await withLiveness(fixedToken(valid('sess-live'), true), reg).resolve(facts)
    assert.equal(out.state === 'failed' && out.reason, 'session_registry_unavailable')
  }
})

test('absent and failed credentials pass through unchanged', () => {
  const absent: RunnerCredential = { state: 'absent' }
  assert.equal(withLiveness(fixedToken(absent), fileSet).resolve(facts), absent)
})

test('config: session_registry parses with defaults and rejects unknown source kinds', async () => {
  const { SessionRegistrySchema } = await import('../../src/liveness/config-schema.js')
  const ok = SessionRegistrySchema.parse({ source: { kind: 'file', path: '/run/live' } })
  assert.equal(ok.recheck_interval, 60_000)
  assert.equal(ok.max_entries, 100_000)
  assert.equal(SessionRegistrySchema.safeParse({ source: { kind: 'ftp' } }).success, false)
})
