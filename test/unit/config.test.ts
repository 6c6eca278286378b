import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { defaultConfig } from '../../src/config/default-config.js'
import { ConfigError } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load-config.js'

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'conf.yaml')
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    assert.equal(err.file, 'conf.yaml')
    assert.match(err.message, /^conf\.yaml: invalid configuration/)
    return err.problems.map((p) => `${p.path}: ${p.message}`)
  }
  assert.fail('expected a ConfigError')
}

const RULE = `    - name: r\n      path: /x\n      public: true\n`

describe('config validation names the key path, what was expected and what was found', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown top-level key', `polcy: {}\npolicy:\n  rules: []\n`, /^polcy: unknown key/],
    [
      'a removed key says what replaced it (logging.plain_session_ids)',
      `logging: { plain_session_ids: true }\npolicy:\n  rules: []\n`,
      /^logging\.plain_session_ids: removed: session ids are never logged in clear.*HMAC-SHA-256 under logging\.hash_key_file/,
    ],
    [
      'a removed key set to its old default is refused too',
      `logging: { plain_session_ids: false }\npolicy:\n  rules: []\n`,
      /^logging\.plain_session_ids: removed: /,
    ],
    [
      'a key that merely looks like a removed one elsewhere is an unknown key',
      `plain_session_ids: true\npolicy:\n  rules: []\n`,
      /^plain_session_ids: unknown key/,
    ],
    [
      'an empty hash_key_file',
      `logging: { hash_key_file: "" }\npolicy:\n  rules: []\n`,
      /^logging\.hash_key_file: /,
    ],
    [
      'unknown nested key',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      public: true\n      mehtods: [GET]\n`,
      /^policy\.rules\[0\]\.mehtods: unknown key/,
    ],
    [
      'wrong type',
      `listen: 50051\npolicy:\n  rules: []\n`,
      /^listen: expected string, found a number 50051/,
    ],
    [
      'bad method',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      methods: [GTE]\n      public: true\n`,
      /^policy\.rules\[0\]\.methods\[0\]: expected one of "GET".*found a string "GTE"/,
    ],
    [
      'bad path template',
      `policy:\n  rules:\n    - name: r\n      path: /x/**/y\n      public: true\n`,
      /^policy\.rules\[0\]\.path: .*\*\*/,
    ],
    [
      'path template without slash',
      `policy:\n  rules:\n    - name: r\n      path: x\n      public: true\n`,
      /^policy\.rules\[0\]\.path: /,
    ],
    [
      'duplicate rule name',
      `policy:\n  rules:\n${RULE}${RULE}`,
      /^policy\.rules\[1\]\.name: duplicate rule name "r" \(first used by rules\[0\]\)/,
    ],
    [
      'two effects',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      public: true\n      deny: true\n`,
      /^policy\.rules\[0\]: a rule needs exactly one of/,
    ],
    [
      'no effect',
      `policy:\n  rules:\n    - name: r\n      path: /x\n`,
      /^policy\.rules\[0\]: a rule needs exactly one of/,
    ],
    [
      'invalid SPIFFE ID',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      any_of:\n        - spiffe:\n            ids: [spiffe://example.org/a/]\n`,
      /^policy\.rules\[0\]\.any_of\[0\]\.spiffe\.ids\[0\]: invalid SPIFFE ID/,
    ],
    [
      'invalid trust domain',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      any_of:\n        - spiffe:\n            trust_domains: [Example.org]\n`,
      /^policy\.rules\[0\]\.any_of\[0\]\.spiffe\.trust_domains\[0\]: invalid trust domain/,
    ],
    [
      'empty spiffe condition',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      any_of:\n        - spiffe: {}\n`,
      /^policy\.rules\[0\]\.any_of\[0\]\.spiffe: a spiffe condition needs/,
    ],
    [
      'empty alternative',
      `policy:\n  rules:\n    - name: r\n      path: /x\n      any_of:\n        - {}\n`,
      /^policy\.rules\[0\]\.any_of\[0\]: an alternative needs/,
    ],
    ['missing policy', `listen: 127.0.0.1:1\n`, /^policy: expected object, found nothing/],
    [
      'bad header name',
      `headers:\n  spiffe_id: X-Spiffe-Id\npolicy:\n  rules: []\n`,
      /^headers\.spiffe_id: expected a lower-case HTTP header name/,
    ],
    [
      'limit out of range',
      `limits:\n  max_headers: 1\npolicy:\n  rules: []\n`,
      /^limits\.max_headers: .*8/,
    ],
    ['YAML syntax', `policy:\n  rules: [\n`, /^: YAML: /],
    [
      'duplicate YAML key',
      `policy:\n  rules: []\npolicy:\n  rules: []\n`,
      /^: YAML: Map keys must be unique/,
    ],
  ]
  for (const [name, yaml, expected] of cases) {
    test(name, () => {
      const found = problems(yaml)
      assert.ok(
        found.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got:\n${found.join('\n')}`,
      )
    })
  }

  test('the embedded default config is valid and denies by default', () => {
    const c = defaultConfig()
    assert.equal(c.listen, '127.0.0.1:50051')
    assert.deepEqual(
      c.policy.rules.map((r) => r.name),
      ['healthz', 'api'],
    )
    assert.equal(c.identity.xfcc.enabled, false)
    assert.equal(c.headers.spiffe_id, 'x-spiffe-id')
  })
})
