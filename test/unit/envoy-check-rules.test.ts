import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type CheckOptions, checkBootstrap } from '../../src/envoy-check/check-bootstrap.js'
import type { Finding } from '../../src/envoy-check/findings.js'
import { readBootstrap } from '../../src/envoy-check/read-bootstrap.js'

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/envoy-check/', import.meta.url))
const DEFAULTS: CheckOptions = { minMessageTimeoutMs: 500, peerIdentity: true, xfcc: false }

async function check(name: string, options: Partial<CheckOptions> = {}): Promise<Finding[]> {
  const source = await readBootstrap(`${FIXTURES}${name}`)
  return checkBootstrap(source.value, { ...DEFAULTS, ...options })
}

const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config'
const EXT_PROC = `${HCM}.http_filters[0].typed_config`
const ROUTES = `${HCM}.route_config.virtual_hosts[0]`
const DOWNSTREAM = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config'
const PROCESSOR = 'static_resources.clusters[0]'

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
    'metadata-namespace-other.yaml',
    { metadataNamespace: 'extproc_authz' },
    'warning',
    'ext-proc-metadata-namespace',
    `${EXT_PROC}.metadata_options.receiving_namespaces.untyped`,
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
  // Ways around the processor.
  ['ext-proc-missing.yaml', {}, 'error', 'ext-proc-missing', `${HCM}.http_filters`],
  ['ext-proc-after-router.yaml', {}, 'error', 'envoy-router-not-last', `${HCM}.http_filters[0]`],
  ['router-missing.yaml', {}, 'error', 'envoy-router-missing', `${HCM}.http_filters[0]`],
  [
    'second-listener-http.yaml',
    {},
    'error',
    'ext-proc-missing',
    'static_resources.listeners[1].filter_chains[0].filters[0].typed_config.http_filters',
  ],
  [
    'second-listener-tcp-proxy.yaml',
    {},
    'error',
    'listener-bypass',
    'static_resources.listeners[1].filter_chains[0].filters[0].typed_config.cluster',
  ],
  [
    'admin-off-loopback.yaml',
    {},
    'error',
    'admin-off-loopback',
    'admin.address.socket_address.address',
  ],
  ['empty.yaml', {}, 'error', 'bootstrap-empty', ''],
  ['not-bootstrap.yaml', {}, 'error', 'bootstrap-empty', ''],
  ['no-listeners.json', {}, 'error', 'bootstrap-empty', ''],
  [
    'processor-tls-max.yaml',
    {},
    'error',
    'tls-max-below-min',
    `${PROCESSOR}.transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version`,
  ],
  [
    'health-check-no-alpn.yaml',
    {},
    'error',
    'health-check-h2-alpn',
    `${PROCESSOR}.health_checks[0]`,
  ],
  ['underscore-headers.yaml', {}, 'error', 'hcm-underscore-headers', HCM],
  [
    'circuit-breakers-default.yaml',
    {},
    'warning',
    'ext-proc-circuit-breakers',
    `${PROCESSOR}.name`,
  ],
  [
    'static-certificates.yaml',
    {},
    'warning',
    'tls-static-certificates',
    `${DOWNSTREAM}.common_tls_context.tls_certificates[0]`,
  ],
  // Envoy's load-time refusals.
  [
    'route-cluster-missing.yaml',
    {},
    'error',
    'envoy-route-cluster-missing',
    `${ROUTES}.routes[0].route.cluster`,
  ],
  [
    'downstream-tls-no-certificate.yaml',
    {},
    'error',
    'envoy-downstream-tls-certificate',
    `${DOWNSTREAM}.common_tls_context`,
  ],
  [
    'san-without-ca.yaml',
    {},
    'error',
    'envoy-san-without-ca',
    `${DOWNSTREAM}.common_tls_context.validation_context`,
  ],
  ['node-missing.yaml', {}, 'error', 'envoy-node-identity', ''],
  [
    'duplicate-cluster.yaml',
    {},
    'error',
    'envoy-duplicate-name',
    'static_resources.clusters[2].name',
  ],
  ['filter-no-config.yaml', {}, 'error', 'envoy-filter-config-missing', `${HCM}.http_filters[1]`],
  [
    'ext-proc-no-service.yaml',
    {},
    'error',
    'envoy-ext-proc-service',
    `${HCM}.http_filters[0].typed_config`,
  ],
  ['access-log-no-config.yaml', {}, 'error', 'envoy-filter-config-missing', `${HCM}.access_log[0]`],
  [
    'secret-unknown.yaml',
    {},
    'error',
    'envoy-secret-unknown',
    `${DOWNSTREAM}.common_tls_context.tls_certificate_sds_secret_configs[0]`,
  ],
  [
    'static-host-name.yaml',
    {},
    'error',
    'envoy-address-not-ip',
    'static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address',
  ],
  [
    'listener-no-filter-chains.yaml',
    {},
    'error',
    'envoy-listener-shape',
    'static_resources.listeners[1]',
  ],
  [
    'protocol-options-name.yaml',
    {},
    'error',
    'envoy-protocol-options-name',
    `${PROCESSOR}.typed_extension_protocol_options.http_protocol_options`,
  ],
  [
    'attribute-blank.yaml',
    {},
    'error',
    'envoy-attribute-expression',
    `${EXT_PROC}.request_attributes[1]`,
  ],
  [
    'tls-certificate-no-chain.yaml',
    {},
    'error',
    'envoy-tls-certificate-chain',
    `${DOWNSTREAM}.common_tls_context.tls_certificates[0]`,
  ],
  [
    'upstream-certificate-no-chain.yaml',
    {},
    'error',
    'envoy-tls-certificate-chain',
    `${PROCESSOR}.transport_socket.typed_config.common_tls_context.tls_certificates[0]`,
  ],
  [
    'alpn-too-long.yaml',
    {},
    'error',
    'envoy-alpn',
    `${PROCESSOR}.transport_socket.typed_config.common_tls_context.alpn_protocols[1]`,
  ],
  [
    'api-config-source-no-grpc.yaml',
    {},
    'error',
    'envoy-api-config-source',
    `${DOWNSTREAM}.common_tls_context.validation_context_sds_secret_config.sds_config.api_config_source`,
  ],
  [
    'endpoint-no-address.yaml',
    {},
    'error',
    'envoy-endpoint-address',
    'static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0]',
  ],
  [
    'api-type-default.yaml',
    {},
    'error',
    'proto-deprecated',
    `${DOWNSTREAM}.common_tls_context.validation_context_sds_secret_config.sds_config.api_config_source`,
  ],
  // protoc-gen-validate rules.
  [
    'connect-timeout-zero.yaml',
    {},
    'error',
    'proto-constraint',
    'static_resources.clusters[1].connect_timeout',
  ],
  [
    'port-out-of-range.yaml',
    {},
    'error',
    'proto-constraint',
    'static_resources.listeners[0].address.socket_address.port_value',
  ],
  ['message-timeout-too-long.yaml', {}, 'error', 'proto-constraint', `${EXT_PROC}.message_timeout`],
  [
    'empty-prefix-matcher.yaml',
    {},
    'error',
    'proto-constraint',
    `${DOWNSTREAM}.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher.prefix`,
  ],
]

describe('check-envoy: a fixture per rule', () => {
  test('the base fixture, in YAML and as lowerCamel JSON, is clean', async () => {
    assert.deepEqual(await check('good.yaml'), [])
    assert.deepEqual(await check('good.yaml', { xfcc: true }), [])
    assert.deepEqual(await check('good-camel.json'), [])
    assert.deepEqual(await check('good-lowercase-enums.yaml'), [])
  })

  test('the current Envoy API: status_on_error, per-route failure_mode_allow, DnsCluster; h2 health checks', async () => {
    assert.deepEqual(await check('current-api.yaml'), [])
    assert.deepEqual(await check('health-check-alpn.yaml'), [])
  })

  test('a health check without thresholds names both required fields', async () => {
    const findings = await check('health-check-no-thresholds.yaml')
    assert.deepEqual(
      findings.map((f) => [f.rule, f.path, f.message]),
      [
        [
          'proto-constraint',
          'static_resources.clusters[1].health_checks[0]',
          "'healthy_threshold' is required (envoy.config.core.v3.HealthCheck)",
        ],
        [
          'proto-constraint',
          'static_resources.clusters[1].health_checks[0]',
          "'unhealthy_threshold' is required (envoy.config.core.v3.HealthCheck)",
        ],
      ],
    )
  })

  test('underscore headers only matter when an identity header has a dash', async () => {
    assert.deepEqual(await check('underscore-headers.yaml', { identityHeaders: ['xspiffeid'] }), [])
  })

  test('every fixture is used by a test here', async () => {
    const source = readFileSync(
      fileURLToPath(import.meta.url)
        .replace(/\/dist\//, '/')
        .replace(/\.js$/, '.ts'),
      'utf8',
    )
    const unused = readdirSync(FIXTURES).filter((f) => !source.includes(`'${f}'`))
    assert.deepEqual(unused, [])
  })

  test('an SDS resource file is checked as its resources, not as a bootstrap', async () => {
    assert.deepEqual(await check('sds-resources.yaml'), [])
    assert.deepEqual(
      (await check('sds-resources-bad.yaml')).map((f) => [f.rule, f.path]),
      [
        ['proto-unknown-field', 'resources[0].tls_certificate.certificate_chain.filenam'],
        ['proto-oneof-required', 'resources[0].tls_certificate.certificate_chain'],
      ],
    )
  })

  test('ext_proc after the router says so', async () => {
    const [finding] = await check('ext-proc-after-router.yaml')
    assert.match(finding?.message ?? '', /ext_proc after the router authorizes nothing/)
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

  test('per-route failure_mode_allow (ExtProcOverrides, Envoy 1.35+) names the virtual host', async () => {
    const findings = await check('per-route-failure-mode-allow.yaml')
    const path = `${ROUTES}.typed_per_filter_config["envoy.filters.http.ext_proc"].overrides.failure_mode_allow`
    assert.deepEqual(
      findings.map((f) => [f.rule, f.path]),
      [['ext-proc-per-route-failure-mode-allow', path]],
    )
    assert.match(findings[0]?.message ?? '', /virtual host 'upstream'/)
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

  test('the metadata namespace is checked only when the processor sends one (--config)', async () => {
    assert.deepEqual(await check('metadata-namespace-other.yaml'), [])
    assert.deepEqual(
      await check('metadata-namespace-other.yaml', { metadataNamespace: 'other_namespace' }),
      [],
    )
    // No metadata_options at all: the finding points at the filter config.
    assert.deepEqual(
      (await check('good.yaml', { metadataNamespace: 'extproc_authz' })).map((f) => [
        f.rule,
        f.path,
      ]),
      [['ext-proc-metadata-namespace', EXT_PROC]],
    )
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
