import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { authorize } from '../../src/authz/authorize.js'
import { compilePolicy, PolicyCompileError } from '../../src/authz/compile-policy.js'
import { defineConditionKind } from '../../src/authz/condition-kind.js'
import type { Condition, ConditionOutcome } from '../../src/authz/conditions.js'
import type { CredentialResolver, CredentialSpec } from '../../src/authz/credential.js'
import type { Decision } from '../../src/authz/decision.js'
import type { PolicyDocument } from '../../src/authz/policy-schema.js'
import { spiffeCondition } from '../../src/authz/spiffe-condition.js'
import { buildRequestFacts, PEER_URI_SAN_ATTRIBUTE } from '../../src/extproc/build-request-facts.js'

// A condition kind added from outside the core: `api_key: { owner: alice }` allows a request
// whose bearer value is a key of that owner. Nothing in src/ knows it.
type ApiKey = { readonly state: 'absent' } | { readonly state: 'known'; readonly owner: string }

const API_KEY: CredentialSpec = { name: 'api_key', label: 'API keys' }

const KEYS = new Map([['k-alice', 'alice']])
const apiKeys: CredentialResolver<'bearer', ApiKey> = {
  resolve({ bearer }) {
    const owner = typeof bearer === 'string' ? KEYS.get(bearer) : undefined
    return owner === undefined ? { state: 'absent' } : { state: 'known', owner }
  },
}

class ApiKeyCondition implements Condition<ApiKey> {
  readonly kind = 'api_key'
  readonly credential = API_KEY
  constructor(private readonly owner: string) {}
  evaluate(_ctx: unknown, key: ApiKey | undefined): ConditionOutcome {
    if (key === undefined || key.state === 'absent') {
      return { ok: false, reason: 'token_missing', detail: 'no API key' }
    }
    if (key.owner !== this.owner) {
      return { ok: false, reason: 'identity_not_allowed', detail: 'API key of another owner' }
    }
    return { ok: true }
  }
}

const apiKeyCondition = defineConditionKind({
  name: 'api_key',
  schema: z.strictObject({ owner: z.string() }),
  credential: API_KEY,
  compile: (config) => new ApiKeyCondition(config.owner),
})

const KINDS = [spiffeCondition, apiKeyCondition]

const POLICY: PolicyDocument = {
  rules: [
    { name: 'alice', path: '/alice/**', any_of: [{ api_key: { owner: 'alice' } }] },
    {
      name: 'both',
      path: '/both/**',
      any_of: [{ api_key: { owner: 'alice' }, spiffe: { trust_domains: ['example.org'] } }],
    },
  ],
}

function decide(path: string, bearer?: string, peer?: string): Decision {
  const headers = [
    { name: ':method', value: 'GET' },
    { name: ':path', value: path },
    { name: ':authority', value: 'api.example.org' },
  ]
  if (bearer !== undefined) headers.push({ name: 'authorization', value: `Bearer ${bearer}` })
  const attributes = new Map(peer === undefined ? [] : [[PEER_URI_SAN_ATTRIBUTE, peer]])
  const built = buildRequestFacts(headers, attributes, { xfcc: false })
  assert.ok(built.ok)
  const policy = compilePolicy(POLICY, KINDS, { api_key: apiKeys })
  const d = authorize(built.facts, policy, { credentials: { api_key: apiKeys } })
  assert.ok(!(d instanceof Promise), 'a synchronous resolver gives a synchronous decision')
  return d
}

describe('a condition kind registered outside the core', () => {
  test('allows through its own credential', () => {
    const d = decide('/alice/x', 'k-alice')
    assert.equal(d.allow, true)
    assert.equal(d.rule, 'alice')
  })

  test('denies with the reason its condition gives', () => {
    assert.equal(decide('/alice/x').allow, false)
    const d = decide('/alice/x')
    assert.equal(!d.allow && d.reason, 'token_missing')
  })

  test('combines with a built-in kind in one alternative (all of them must hold)', () => {
    assert.equal(decide('/both/x', 'k-alice', 'spiffe://example.org/ns/a').allow, true)
    const noPeer = decide('/both/x', 'k-alice')
    assert.equal(!noPeer.allow && noPeer.reason, 'identity_missing')
  })

  test('without its resolver the policy does not compile, and authorize denies', () => {
    assert.throws(
      () => compilePolicy(POLICY, KINDS),
      (e: unknown) =>
        e instanceof PolicyCompileError &&
        e.keyPath === 'policy.rules[0].any_of[0].api_key' &&
        e.problem === 'a "api_key" condition needs API keys',
    )
    const policy = compilePolicy(POLICY, KINDS, { api_key: apiKeys })
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/alice/x' },
        { name: ':authority', value: 'a' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.ok(built.ok)
    const d = authorize(built.facts, policy, {}) as Decision
    assert.equal(!d.allow && d.reason, 'internal_error')
    assert.equal(!d.allow && d.detail, 'policy needs API keys but none are configured')
  })

  test('a rule reading two credentials gets each its own value, async ones awaited', async () => {
    const second: CredentialSpec = { name: 'echo', label: 'echo' }
    const echo: CredentialResolver<'bearer', string> = {
      resolve: ({ bearer }) => Promise.resolve(String(bearer)),
    }
    const echoKind = defineConditionKind({
      name: 'echo',
      schema: z.strictObject({ value: z.string() }),
      credential: second,
      compile: (config): Condition<string> => ({
        kind: 'echo',
        credential: second,
        evaluate: (_ctx, v) =>
          v === config.value
            ? { ok: true }
            : { ok: false, reason: 'token_invalid', detail: 'echo differs' },
      }),
    })
    const credentials = { api_key: apiKeys, echo }
    const policy = compilePolicy(
      {
        rules: [
          {
            name: 'r',
            path: '/**',
            any_of: [{ api_key: { owner: 'alice' }, echo: { value: 'k-alice' } }],
          },
        ],
      },
      [apiKeyCondition, echoKind],
      credentials,
    )
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/x' },
        { name: ':authority', value: 'a' },
        { name: 'authorization', value: 'Bearer k-alice' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.ok(built.ok)
    const d = authorize(built.facts, policy, { credentials })
    assert.ok(d instanceof Promise)
    assert.equal((await d).allow, true)
  })
})
