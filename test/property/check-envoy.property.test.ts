import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { checkBootstrap } from '../../src/envoy-check/check-bootstrap.js'
import { parseBootstrap, UnreadableBootstrap } from '../../src/envoy-check/read-bootstrap.js'
import { mutate, prng } from '../helpers/mutate-bootstrap.js'
import { RUNS } from './budget.js'

// check-envoy never crashes: any YAML or JSON text, any JSON value, any mutation of a real
// bootstrap ends in findings (or "unreadable", the CLI's exit 2), never an exception; the CLI
// itself exits 0, 1 or 2 and prints no stack trace.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MAIN = join(ROOT, 'dist/src/cli/main.js')
const OPTIONS = { minMessageTimeoutMs: 500, peerIdentity: true, xfcc: false }
const BASES = [
  ...readdirSync(join(ROOT, 'envoy'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(ROOT, 'envoy', f)),
  join(ROOT, 'test/fixtures/envoy-check/good.yaml'),
].map((f) => parseBootstrap(readFileSync(f, 'utf8'), 'yaml', f).value)

/** Text → findings, as the CLI does it: unreadable is a verdict too. */
function checkText(text: string, format: 'json' | 'yaml'): 'unreadable' | number {
  let value: unknown
  let positions: ReturnType<typeof parseBootstrap>['positions']
  try {
    ;({ value, positions } = parseBootstrap(text, format))
  } catch (err) {
    if (err instanceof UnreadableBootstrap) return 'unreadable'
    throw err
  }
  const findings = checkBootstrap(value, OPTIONS)
  for (const f of findings) {
    const p = positions.of(f.path)
    assert.ok(p.line >= 1 && p.column >= 1, `${f.path}: ${p.line}:${p.column}`)
  }
  return findings.length
}

// Keys Envoy configs use, so random documents reach the rules, not only "unknown field".
const KEYS = [
  'static_resources',
  'listeners',
  'clusters',
  'filter_chains',
  'filters',
  'typed_config',
  '@type',
  'http_filters',
  'route_config',
  'virtual_hosts',
  'routes',
  'route',
  'cluster',
  'name',
  'admin',
  'address',
  'socket_address',
  'transport_socket',
  'common_tls_context',
  'tls_params',
  'health_checks',
  'grpc_service',
  'envoy_grpc',
  'cluster_name',
]
const TYPE_URLS = [
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
  'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  'type.googleapis.com/udpa.type.v1.TypedStruct',
  'type.googleapis.com/google.protobuf.Struct',
]
const envoyish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(...TYPE_URLS),
    tie('object'),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string()), tie('value'), {
    maxKeys: 5,
  }),
})).value

describe('check-envoy never crashes', () => {
  test('arbitrary JSON values and Envoy-shaped documents', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), envoyish), (value) => {
        checkBootstrap(value, OPTIONS)
        checkText(JSON.stringify(value) ?? '', 'json')
        checkText(stringify(value), 'yaml')
      }),
      { numRuns: RUNS },
    )
  })

  test('arbitrary text as YAML and as JSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: fc.constantFrom(...'{}[]:,- \n"\'&*!|>#@'.split('')), maxLength: 80 }),
        ),
        (text) => {
          checkText(text, 'yaml')
          checkText(text, 'json')
        },
      ),
      { numRuns: RUNS },
    )
  })

  test('mutated shipped bootstraps (several mutations deep)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 6 }), (seed, depth) => {
        const rand = prng(seed)
        let value = BASES[Math.abs(seed) % BASES.length]
        for (let i = 0; i < depth; i++) value = mutate(value, rand).value
        checkBootstrap(value, OPTIONS)
        checkText(stringify(value), 'yaml')
      }),
      { numRuns: RUNS },
    )
  })

  const dir = mkdtempSync(join(tmpdir(), 'check-envoy-property-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the CLI exits 0, 1 or 2 without a stack trace', () => {
    // A process per run: a small fixed sample, whatever the budget.
    const rand = prng(2026)
    const inputs: [string, string][] = [
      ['empty.yaml', ''],
      ['scalar.yaml', '42\n'],
      ['list.json', '[1, 2]\n'],
      ['null.json', 'null\n'],
      ['deep.yaml', `${'['.repeat(5000)}\n`],
      ['deep.json', `{"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
      [
        'aliases.yaml',
        'a: &a [1]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c]\n',
      ],
      ['binary.yaml', '\u0000\u0001\uFFFE'],
      ...BASES.flatMap((base, i): [string, string][] => [
        [`mutated-${i}.yaml`, stringify(mutate(mutate(base, rand).value, rand).value)],
      ]),
    ]
    for (const [name, text] of inputs) {
      const file = join(dir, name)
      writeFileSync(file, text)
      const r = spawnSync(process.execPath, [MAIN, 'check-envoy', file], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.ok([0, 1, 2].includes(r.status ?? -1), `${name}: exit ${r.status}\n${r.stderr}`)
      assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /, `${name}: stack trace`)
      assert.doesNotMatch(r.stdout, /check-envoy-internal/, `${name}: a rule threw`)
    }
  })
})
