import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { buildSnapshot } from '../../src/app/build-snapshot.js'
import { authorize } from '../../src/authz/authorize.js'
import {
  type CompiledPolicy,
  compilePolicy,
  PolicyCompileError,
} from '../../src/authz/compile-policy.js'
import { compilePathTemplate } from '../../src/authz/path-template.js'
import { ConfigError } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load-config.js'
import type { PolicyConfig } from '../../src/config/schema.js'
import { CONDITION_KINDS } from '../../src/config/schema.js'
import { buildRequestFacts, PEER_URI_SAN_ATTRIBUTE } from '../../src/extproc/build-request-facts.js'
import { RUNNER_TOKEN_CREDENTIAL } from '../../src/tokens/runner-credential.js'

/** A runner-token resolver is configured (compilation only looks for one). */
const WITH_TOKENS = { [RUNNER_TOKEN_CREDENTIAL.name]: { resolve: () => ({ state: 'absent' }) } }

const SESSIONS: PolicyConfig = {
  rules: [
    {
      name: 'sessions',
      path: '/api/sessions/{session}/**',
      any_of: [{ runner_token: { session_param: 'session' } }],
    },
  ],
}

function compileError(fn: () => unknown): PolicyCompileError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof PolicyCompileError, String(err))
    return err
  }
  assert.fail('expected a PolicyCompileError')
}

describe('policy compilation is total: a condition is compiled or compilation throws', () => {
  test('a runner_token condition without runner-token keys does not compile', () => {
    const err = compileError(() => compilePolicy(SESSIONS, CONDITION_KINDS))
    assert.equal(err.code, 'ERR_POLICY_UNCOMPILABLE')
    assert.equal(err.keyPath, 'policy.rules[0].any_of[0].runner_token')
    assert.match(err.message, /needs a runner_tokens section/)
  })

  test('with a runner-token resolver it compiles to one evaluable condition', () => {
    const policy = compilePolicy(SESSIONS, CONDITION_KINDS, WITH_TOKENS)
    const effect = policy.rules[0]?.effect
    assert.equal(effect?.kind, 'any_of')
    if (effect?.kind !== 'any_of') return
    assert.deepEqual(
      effect.alternatives.map((a) => a.conditions.map((c) => c.kind)),
      [['runner_token']],
    )
    assert.deepEqual(policy.rules[0]?.credentials, [RUNNER_TOKEN_CREDENTIAL])
  })

  // Shapes the schema refuses, built by hand: compilation must refuse them on its own.
  const unschematic: Array<[string, unknown, string]> = [
    ['an alternative without a condition', { any_of: [{}] }, 'policy.rules[0].any_of[0]'],
    [
      'an alternative whose conditions are all undefined',
      { any_of: [{ spiffe: undefined, runner_token: undefined }] },
      'policy.rules[0].any_of[0]',
    ],
    ['any_of without alternatives', { any_of: [] }, 'policy.rules[0].any_of'],
    [
      'an unknown condition kind',
      { any_of: [{ spiffe: { trust_domains: ['td'] }, oidc: { issuer: 'x' } }] },
      'policy.rules[0].any_of[0].oidc',
    ],
    [
      'a spiffe condition matching nothing',
      { any_of: [{ spiffe: {} }] },
      'policy.rules[0].any_of[0].spiffe',
    ],
    ['a rule without an effect', {}, 'policy.rules[0]'],
    ['a rule with two effects', { public: true, deny: true }, 'policy.rules[0]'],
  ]
  for (const [name, effect, path] of unschematic) {
    test(`refuses ${name}`, () => {
      const policy = { rules: [{ name: 'r', path: '/x', ...(effect as object) }] } as PolicyConfig
      assert.equal(
        compileError(() => compilePolicy(policy, CONDITION_KINDS, WITH_TOKENS)).keyPath,
        path,
      )
    })
  }

  test('buildSnapshot (serve, reload, config check, policy test) compiles the same way', () => {
    const config = parseConfig(
      `runner_tokens: { private_keys: [/nonexistent.pem] }\npolicy:\n  rules:\n    - name: s\n      path: /s/{session}\n      any_of: [{ runner_token: { session_param: session } }]\n`,
      't.yaml',
    )
    // Without the credentials buildCredentials makes from runner_tokens: refused, never allowed.
    assert.equal(
      compileError(() => buildSnapshot(config)).keyPath,
      'policy.rules[0].any_of[0].runner_token',
    )
  })

  test('an empty alternative that reached evaluation anyway denies', () => {
    const policy: CompiledPolicy = {
      rules: [
        {
          name: 'r',
          methods: undefined,
          path: compilePathTemplate('/x'),
          hosts: undefined,
          effect: { kind: 'any_of', alternatives: [{ conditions: [] }] },
          credentials: [],
        },
      ],
    }
    const built = buildRequestFacts(
      [
        { name: ':method', value: 'GET' },
        { name: ':path', value: '/x' },
      ],
      undefined,
      { xfcc: false },
    )
    assert.ok(built.ok)
    const decision = authorize(built.facts, policy)
    assert.ok(!(decision instanceof Promise))
    assert.equal(decision.allow, false)
  })
})

describe('a SPIFFE ID without a path is no workload identity', () => {
  const facts = (peer: string, xfcc: boolean) => {
    const headers = [
      { name: ':method', value: 'GET' },
      { name: ':path', value: '/x' },
    ]
    if (xfcc)
      headers.push({ name: 'x-forwarded-client-cert', value: `By=spiffe://td/envoy;URI=${peer}` })
    const built = buildRequestFacts(headers, new Map([[PEER_URI_SAN_ATTRIBUTE, peer]]), { xfcc })
    assert.ok(built.ok)
    return built.facts
  }
  for (const xfcc of [false, true]) {
    test(`the trust domain's own ID is not a peer (${xfcc ? 'XFCC' : 'Envoy attribute'})`, () => {
      assert.equal(facts('spiffe://example.org', xfcc).peer, undefined)
      assert.equal(facts('spiffe://example.org/ns/a', xfcc).peer?.uri, 'spiffe://example.org/ns/a')
    })
  }

  test('config refuses it as an exact spiffe id; a trust domain is written as one', () => {
    assert.throws(
      () =>
        parseConfig(
          'policy:\n  rules:\n    - { name: r, path: /x, any_of: [{ spiffe: { ids: [spiffe://example.org] } }] }\n',
          't.yaml',
        ),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some(
          (p) =>
            p.path === 'policy.rules[0].any_of[0].spiffe.ids[0]' && /has a path/.test(p.message),
        ),
    )
  })
})

describe('credentials and owned headers never reach the upstream', () => {
  const stripOf = (yaml: string) => {
    const snapshot = buildSnapshot(parseConfig(`${yaml}\npolicy: { rules: [] }\n`, 't.yaml'))
    return snapshot.responder
  }
  const removes = (yaml: string): string[] => {
    const bytes = stripOf(yaml).allow({
      allow: true,
      rule: 'r',
      reason: 'public',
      spiffeId: undefined,
      sessionId: undefined,
    })
    // The remove_headers of the encoded answer, read back as latin1 text: enough to find names.
    return ['authorization', 'x_spiffe_id', 'x-spiffe_id', 'x_runner_session_id'].filter((h) =>
      bytes.includes(Buffer.from(h, 'latin1')),
    )
  }

  test('Authorization is removed on every allow by default, and the spellings of owned headers', () => {
    assert.deepEqual(removes(''), [
      'authorization',
      'x_spiffe_id',
      'x-spiffe_id',
      'x_runner_session_id',
    ])
  })
  test('headers.strip_authorization: false keeps it', () => {
    assert.ok(!removes('headers: { strip_authorization: false }').includes('authorization'))
  })

  const tokens = (strip: string) =>
    `runner_tokens: { private_keys: [/k.pem]${strip === '' ? '' : `, strip_authorization: ${strip}`} }`
  test('runner_tokens.strip_authorization, the old spelling, still works alone', () => {
    assert.ok(!removes(tokens('false')).includes('authorization'))
    assert.ok(removes(tokens('true')).includes('authorization'))
  })
  test('the two spellings contradicting each other are a config error naming both', () => {
    assert.throws(
      () =>
        parseConfig(
          `headers: { strip_authorization: true }\n${tokens('false')}\npolicy: { rules: [] }\n`,
          't.yaml',
        ),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some(
          (p) =>
            p.path === 'runner_tokens.strip_authorization' &&
            /headers\.strip_authorization/.test(p.message),
        ),
    )
  })
  test('session_registry without runner_tokens is a config error (it was silently ignored)', () => {
    assert.throws(
      () =>
        parseConfig(
          'session_registry: { source: { kind: file, path: /live.txt } }\npolicy: { rules: [] }\n',
          't.yaml',
        ),
      (err: unknown) =>
        err instanceof ConfigError && err.problems.some((p) => p.path === 'session_registry'),
    )
  })
  test('an owned header with too many separators to remove every spelling is refused', () => {
    assert.throws(() =>
      parseConfig('headers: { strip: [x-a-b-c-d-e] }\npolicy: { rules: [] }\n', 't.yaml'),
    )
  })
})
