import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type CheckOptions, checkBootstrap } from '../../src/envoy-check/check-bootstrap.js'
import type { Finding } from '../../src/envoy-check/findings.js'
import { readBootstrap } from '../../src/envoy-check/read-bootstrap.js'

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/envoy-check/', import.meta.url))
const DEFAULTS: CheckOptions = { minMessageTimeoutMs: 500, peerIdentity: true, xfcc: false }

async function check(name: string, options: Partial<CheckOptions> = {}): Promise<Finding[]> {
  return checkBootstrap(await readBootstrap(`${FIXTURES}${name}`), { ...DEFAULTS, ...options })
}

const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config'
const EXT_PROC = `${HCM}.http_filters[0].typed_config`
const ROUTES = `${HCM}.route_config.virtual_hosts[0]`

// fixture -> the one finding it must produce (rule, severity, path); nothing else.
const CASES: [string, Partial<CheckOptions>, Finding['severity'], string, string][] = [
  ['unknown-field.yaml', {}, 'error', 'proto-unknown-field', `${EXT_PROC}.failure_mode_alow`],
  [
    'unknown-type.yaml',
    {},
    'error',
    'proto-unknown-type',
    `${HCM}.http_filters[1].typed_config.@type`,
  ],
  ['oneof.yaml', {}, 'error', 'proto-oneof', `${EXT_PROC}.grpc_service.google_grpc`],
  [
    'failure-mode-allow.yaml',
    {},
    'error',
    'ext-proc-failure-mode-allow',
    `${EXT_PROC}.failure_mode_allow`,
  ],
  [
    'observability-mode.yaml',
    {},
    'error',
    'ext-proc-observability-mode',
    `${EXT_PROC}.observability_mode`,
  ],
  [
    'cluster-missing.yaml',
    {},
    'error',
    'ext-proc-cluster-missing',
    `${EXT_PROC}.grpc_service.envoy_grpc.cluster_name`,
  ],
  [
    'cluster-missing-cds.yaml',
    {},
    'warning',
    'ext-proc-cluster-missing',
    `${EXT_PROC}.grpc_service.envoy_grpc.cluster_name`,
  ],
  [
    'cluster-not-http2.yaml',
    {},
    'error',
    'ext-proc-cluster-http2',
    'static_resources.clusters[0].typed_extension_protocol_options',
  ],
  [
    'message-timeout-missing.yaml',
    {},
    'error',
    'ext-proc-message-timeout',
    `${EXT_PROC}.message_timeout`,
  ],
  [
    'message-timeout-short.yaml',
    {},
    'error',
    'ext-proc-message-timeout',
    `${EXT_PROC}.message_timeout`,
  ],
  [
    'response-headers.yaml',
    {},
    'warning',
    'ext-proc-response-headers',
    `${EXT_PROC}.processing_mode.response_header_mode`,
  ],
  [
    'allow-mode-override.yaml',
    {},
    'warning',
    'ext-proc-allow-mode-override',
    `${EXT_PROC}.allow_mode_override`,
  ],
  ['filter-disabled.yaml', {}, 'error', 'ext-proc-disabled', `${HCM}.http_filters[0].disabled`],
  [
    'per-route-disabled.yaml',
    {},
    'error',
    'ext-proc-per-route-disabled',
    `${ROUTES}.routes[0].typed_per_filter_config["envoy.filters.http.ext_proc"].disabled`,
  ],
  [
    'no-client-cert.yaml',
    {},
    'warning',
    'listener-client-cert',
    'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.require_client_certificate',
  ],
  [
    'peer-attribute-missing.yaml',
    {},
    'warning',
    'ext-proc-peer-attribute',
    `${EXT_PROC}.request_attributes`,
  ],
  [
    'typed-struct-ext-proc.yaml',
    {},
    'error',
    'ext-proc-failure-mode-allow',
    `${HCM}.http_filters[0].typed_config.value.failure_mode_allow`,
  ],
  ['rds.yaml', {}, 'warning', 'ext-proc-not-checked', `${HCM}.rds`],
  ['ecds.yaml', {}, 'warning', 'ext-proc-not-checked', `${HCM}.http_filters[0].config_discovery`],
  [
    'xfcc-forward.yaml',
    { xfcc: true },
    'error',
    'xfcc-forward',
    `${HCM}.forward_client_cert_details`,
  ],
]

describe('check-envoy: a fixture per rule', () => {
  test('the base fixture, in YAML and as lowerCamel JSON, is clean', async () => {
    assert.deepEqual(await check('good.yaml'), [])
    assert.deepEqual(await check('good.yaml', { xfcc: true }), [])
    assert.deepEqual(await check('good-camel.json'), [])
    assert.deepEqual(await check('good-lowercase-enums.yaml'), [])
  })

  for (const [file, options, severity, rule, path] of CASES) {
    test(`${file}: ${severity} ${rule}`, async () => {
      const findings = await check(file, options)
      assert.deepEqual(
        findings.map((f) => ({ severity: f.severity, rule: f.rule, path: f.path })),
        [{ severity, rule, path }],
      )
    })
  }

  test('per-route failure_mode_allow names the virtual host (and the field is newer than the protos)', async () => {
    const findings = await check('per-route-failure-mode-allow.yaml')
    const path = `${ROUTES}.typed_per_filter_config["envoy.filters.http.ext_proc"].overrides.failure_mode_allow`
    assert.deepEqual(
      findings.map((f) => [f.rule, f.path]),
      [
        ['proto-unknown-field', path],
        ['ext-proc-per-route-failure-mode-allow', path],
      ],
    )
    assert.match(findings[1]?.message ?? '', /virtual host 'upstream'/)
  })

  test('a per-route disable names the route', async () => {
    const [finding] = await check('per-route-disabled.yaml')
    assert.match(finding?.message ?? '', /route 'all' disables ext_proc/)
  })

  test('the missing-cluster error cites envoy#45220', async () => {
    const [finding] = await check('cluster-missing.yaml')
    assert.match(finding?.message ?? '', /cluster 'extproc' .*fails open, envoy#45220/)
  })

  test('XFCC forwarding is only an error when XFCC identity is on', async () => {
    assert.deepEqual(await check('xfcc-forward.yaml', { xfcc: false }), [])
  })

  test('client certificates only matter when the policy relies on peer identity', async () => {
    assert.deepEqual(await check('no-client-cert.yaml', { peerIdentity: false }), [])
  })

  test('the peer attribute is not needed when identity comes from XFCC or is not used', async () => {
    assert.deepEqual(await check('peer-attribute-missing.yaml', { xfcc: true }), [])
    assert.deepEqual(await check('peer-attribute-missing.yaml', { peerIdentity: false }), [])
  })

  test('the message_timeout floor is configurable', async () => {
    assert.deepEqual(await check('message-timeout-short.yaml', { minMessageTimeoutMs: 250 }), [])
    const [finding] = await check('good.yaml', { minMessageTimeoutMs: 2000 })
    assert.equal(finding?.rule, 'ext-proc-message-timeout')
    assert.match(finding?.message ?? '', /1s is below the floor of 2000 ms/)
  })

  test('wrong types: string for integer, bad enum, number for duration, out of range', async () => {
    const findings = (await check('wrong-types.yaml')).filter((f) => f.rule === 'proto-type')
    assert.deepEqual(
      findings.map((f) => [f.path, f.message]),
      [
        [
          'static_resources.listeners[0].address.socket_address.port_value',
          'expected an integer (uint32), got string "https"',
        ],
        [
          `${EXT_PROC}.processing_mode.response_header_mode`,
          'string "SKIPPED" is not a value of envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode (DEFAULT, SEND, SKIP)',
        ],
        [`${EXT_PROC}.message_timeout`, 'expected a duration like "1s" or "0.250s", got number 5'],
        [
          'static_resources.clusters[0].per_connection_buffer_limit_bytes',
          '5000000000 is out of range for uint32',
        ],
      ],
    )
  })

  test('JSON paths are spelled as the file spells them (lowerCamel)', async () => {
    const findings = await check('bad-camel.json')
    assert.deepEqual(
      findings.map((f) => [f.rule, f.path]),
      [
        ['proto-type', 'staticResources.clusters[0].connectTimeout'],
        [
          'ext-proc-failure-mode-allow',
          'staticResources.listeners[0].filterChains[0].filters[0].typedConfig.httpFilters[0].typedConfig.failureModeAllow',
        ],
      ],
    )
  })
})
