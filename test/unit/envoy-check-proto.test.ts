import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { parse, parseAllDocuments } from 'yaml'
import { Findings } from '../../src/envoy-check/findings.js'
import { loadDescriptor } from '../../src/envoy-check/load-descriptor.js'
import { validateMessage } from '../../src/envoy-check/validate-message.js'

function problems(type: string, value: unknown): [string, string, string][] {
  const findings = new Findings()
  validateMessage(loadDescriptor(), type, value, findings)
  // Types only: the validate rules (a cluster needs a name, ...) are tested apart below.
  return findings.list
    .filter((f) => f.rule !== 'proto-constraint' && f.rule !== 'proto-oneof-required')
    .map((f) => [f.rule, f.path, f.message])
}

function constraints(type: string, value: unknown): [string, string, string][] {
  const findings = new Findings()
  validateMessage(loadDescriptor(), type, value, findings)
  return findings.list.map((f) => [f.rule, f.path, f.message])
}

const SOCKET_OPTION = 'envoy.config.core.v3.SocketOption'
const CLUSTER = 'envoy.config.cluster.v3.Cluster'
const FILTER = 'envoy.config.listener.v3.Filter'
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'

describe('check-envoy: proto3 JSON validation against the Envoy API', () => {
  test('int64 takes a number or a decimal string; not a fraction, not a word', () => {
    assert.deepEqual(
      problems(SOCKET_OPTION, { level: 1, name: '9223372036854775807', int_value: 3 }),
      [],
    )
    assert.deepEqual(problems(SOCKET_OPTION, { level: 1.5, name: 'SO_KEEPALIVE' }), [
      ['proto-type', 'level', 'expected an integer (int64), got number 1.5'],
      ['proto-type', 'name', 'expected an integer (int64), got string "SO_KEEPALIVE"'],
    ])
    assert.deepEqual(problems(SOCKET_OPTION, { level: '9223372036854775808' }), [
      ['proto-type', 'level', '9223372036854775808 is out of range for int64'],
    ])
  })

  test('snake_case and lowerCamel names are both accepted; one field spelt twice, or two oneof members, clash', () => {
    assert.deepEqual(
      problems(CLUSTER, { name: 'a', connectTimeout: '1s', lb_policy: 'RANDOM' }),
      [],
    )
    assert.deepEqual(problems(CLUSTER, { connectTimeout: '1s', connect_timeout: '2s' }), [
      [
        'proto-duplicate-field',
        'connect_timeout',
        "'connect_timeout' sets the same field as 'connectTimeout'",
      ],
    ])
    assert.deepEqual(
      problems(FILTER, { name: 'f', typedConfig: { '@type': ROUTER }, config_discovery: {} }).map(
        (p) => p[0],
      ),
      ['proto-oneof'],
    )
  })

  test('enum names are case-insensitive, as Envoy parses them; numbers are accepted', () => {
    assert.deepEqual(problems(CLUSTER, { lb_policy: 'random', type: 2 }), [])
    const tls = 'envoy.extensions.transport_sockets.tls.v3.TlsParameters'
    assert.deepEqual(problems(tls, { tls_minimum_protocol_version: 'TLSv1_3' }), [])
    assert.deepEqual(
      problems(CLUSTER, { lb_policy: 'RANDOMLY' }).map((p) => p[1]),
      ['lb_policy'],
    )
  })

  test('wrappers are plain scalars; Duration strings; Struct takes anything', () => {
    assert.deepEqual(
      problems(CLUSTER, {
        name: 'a',
        per_connection_buffer_limit_bytes: 32768,
        connect_timeout: '0.250s',
        metadata: { filter_metadata: { any: { nested: [1, 'two', { three: null }] } } },
      }),
      [],
    )
    assert.deepEqual(
      problems(CLUSTER, { per_connection_buffer_limit_bytes: { value: 1 } }).map((p) => p[2]),
      ['expected an integer (uint32), got an object'],
    )
    assert.deepEqual(
      problems(CLUSTER, { connect_timeout: '250ms' }).map((p) => p[1]),
      ['connect_timeout'],
    )
  })

  test('string where a message belongs, list where a scalar belongs, scalar where a list belongs', () => {
    assert.deepEqual(
      problems(CLUSTER, { load_assignment: 'upstream', name: ['a'], health_checks: {} }),
      [
        [
          'proto-type',
          'load_assignment',
          'expected an object (envoy.config.endpoint.v3.ClusterLoadAssignment), got string "upstream"',
        ],
        ['proto-type', 'name', 'expected a string, got a list'],
      ],
    )
  })

  test('a repeated field takes a single value or nested lists, as protobuf JSON parses them', () => {
    // Envoy loads `domains: "*"` and `domains: [["*"]]` (checked against envoy --mode validate).
    const HOST = 'envoy.config.route.v3.VirtualHost'
    assert.deepEqual(problems(HOST, { name: 'v', domains: '*' }), [])
    assert.deepEqual(problems(HOST, { name: 'v', domains: [['*', 'a'], 'b'] }), [])
    assert.deepEqual(problems(HOST, { name: 'v', domains: 5 }), [
      ['proto-type', 'domains', 'expected a string, got number 5'],
    ])
  })

  test('typed_config resolves through @type and is checked strictly, map values included', () => {
    assert.deepEqual(
      problems(FILTER, {
        name: 'f',
        typed_config: { '@type': ROUTER, supress_envoy_headers: true },
      }),
      [
        [
          'proto-unknown-field',
          'typed_config.supress_envoy_headers',
          "unknown field 'supress_envoy_headers' in envoy.extensions.filters.http.router.v3.Router",
        ],
      ],
    )
    const options = {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 'many' } },
        },
      },
    }
    assert.deepEqual(
      problems(CLUSTER, options).map((p) => p[1]),
      [
        'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.max_concurrent_streams',
      ],
    )
  })

  test('an Any without @type, or naming an unknown type, is an error that says so', () => {
    assert.deepEqual(
      problems(FILTER, { name: 'f', typed_config: { dynamic_stats: true } }).map((p) => [
        p[0],
        p[1],
      ]),
      [['proto-any-type', 'typed_config.@type']],
    )
    const [unknown] = problems(FILTER, {
      name: 'f',
      typed_config: { '@type': 'type.googleapis.com/acme.Filter' },
    })
    assert.equal(unknown?.[0], 'proto-unknown-type')
    assert.match(unknown?.[2] ?? '', /check-envoy does not know type acme\.Filter/)
  })

  test('TypedStruct: unknown type_url passes as a shape; a known one is checked as that type', () => {
    const typed = (type_url: string, value: unknown) => ({
      name: 'f',
      typed_config: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url, value },
    })
    assert.deepEqual(problems(FILTER, typed('type.googleapis.com/acme.Lua', { code: 'x' })), [])
    assert.deepEqual(problems(FILTER, typed(ROUTER, { dynamic_stats: true })), [])
    assert.deepEqual(
      problems(FILTER, typed(ROUTER, { dynamic_stat: true })).map((p) => p[1]),
      ['typed_config.value.dynamic_stat'],
    )
    const udpa = {
      name: 'f',
      typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_urll: 'x' },
    }
    assert.deepEqual(
      problems(FILTER, udpa).map((p) => p[0]),
      ['proto-unknown-field'],
    )
  })

  test('a well-known type inside an Any keeps its JSON form under "value"', () => {
    const any = (value: unknown) => ({
      name: 'f',
      typed_config: { '@type': 'type.googleapis.com/google.protobuf.Duration', value },
    })
    assert.deepEqual(problems(FILTER, any('1s')), [])
    assert.deepEqual(
      problems(FILTER, any(1)).map((p) => p[1]),
      ['typed_config.value'],
    )
  })

  test('hostile nesting is bounded, not a stack overflow', () => {
    let value: Record<string, unknown> = { '@type': ROUTER }
    for (let i = 0; i < 200; i++)
      value = {
        '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
        type_url: 'x',
        value: { v: value },
      }
    const deep = {
      name: 'f',
      typed_config: { '@type': 'type.googleapis.com/google.protobuf.Value', value },
    }
    assert.deepEqual(problems(FILTER, deep), []) // Value takes anything: no recursion at all
    // Permission nests itself (and_rules.rules[]): the recursion that real input can drive.
    let permission: unknown = { any: true }
    for (let i = 0; i < 200; i++) permission = { and_rules: { rules: [permission] } }
    const found = problems('envoy.config.rbac.v3.Permission', permission)
    assert.deepEqual([...new Set(found.map((p) => p[0]))], ['proto-too-deep'])
  })

  test('the multi-core cluster snippet (docs/transports.md) is a valid Cluster', () => {
    const page = readFileSync(new URL('../../../docs/transports.md', import.meta.url), 'utf8')
    const snippets = [...page.matchAll(/```yaml\n(clusters:\n[\s\S]*?)```/g)].map(
      (m) => m[1] as string,
    )
    assert.ok(snippets.length >= 1, 'the Multi-core section shows a clusters: snippet')
    for (const snippet of snippets) {
      for (const doc of parseAllDocuments(snippet)) {
        const { clusters } = doc.toJS() as { clusters: unknown[] }
        for (const cluster of clusters) assert.deepEqual(problems(CLUSTER, cluster), [])
      }
    }
  })

  test("the README's shortest fail-closed snippet: valid HTTP filters and Cluster, failing closed", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const snippet = /```yaml\n(http_filters:\n[\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(snippet, 'the README shows an http_filters: snippet')
    const { http_filters, clusters } = parse(snippet) as {
      http_filters: Array<{ name: string; typed_config: Record<string, unknown> }>
      clusters: unknown[]
    }
    const HTTP_FILTER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'
    for (const f of http_filters) assert.deepEqual(problems(HTTP_FILTER, f), [])
    for (const c of clusters) assert.deepEqual(problems(CLUSTER, c), [])
    const extProc = http_filters[0]?.typed_config
    assert.equal(extProc?.failure_mode_allow, false)
    assert.equal(http_filters.at(-1)?.name, 'envoy.filters.http.router')
  })
})

describe('check-envoy: protoc-gen-validate rules of the Envoy API', () => {
  const ADDRESS = 'envoy.config.core.v3.SocketAddress'
  test('a port above 65535, a negative or zero connect_timeout, a missing cluster name', () => {
    assert.deepEqual(constraints(ADDRESS, { address: '127.0.0.1', port_value: 70000 }), [
      [
        'proto-constraint',
        'port_value',
        "'port_value' must be at most 65535 (envoy.config.core.v3.SocketAddress)",
      ],
    ])
    assert.deepEqual(constraints(CLUSTER, { name: 'a', connect_timeout: '0s' }), [
      [
        'proto-constraint',
        'connect_timeout',
        "'connect_timeout' must be greater than 0s (envoy.config.cluster.v3.Cluster)",
      ],
    ])
    assert.deepEqual(constraints(CLUSTER, { name: 'a', connect_timeout: '-1s' }), [
      ['proto-constraint', 'connect_timeout', 'duration -1s is negative'],
      [
        'proto-constraint',
        'connect_timeout',
        "'connect_timeout' must be greater than 0s (envoy.config.cluster.v3.Cluster)",
      ],
    ])
    assert.deepEqual(constraints(CLUSTER, {}), [
      ['proto-constraint', '', "'name' must not be empty (envoy.config.cluster.v3.Cluster)"],
    ])
  })

  test('ext_proc message_timeout at most 3600s; a required oneof; min_items; header names', () => {
    const EXT_PROC_TYPE = 'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor'
    assert.deepEqual(
      constraints(EXT_PROC_TYPE, { message_timeout: '7200s' }).map(([r, p]) => [r, p]),
      [['proto-constraint', 'message_timeout']],
    )
    assert.deepEqual(
      constraints('envoy.config.core.v3.GrpcService', {}).map(([r, , m]) => [r, m]),
      [
        [
          'proto-oneof-required',
          'one of envoy_grpc, google_grpc is required (envoy.config.core.v3.GrpcService)',
        ],
      ],
    )
    assert.deepEqual(
      constraints('envoy.config.route.v3.VirtualHost', { name: 'v', domains: [] }).map(
        ([r, p, m]) => [r, p, m],
      ),
      [
        [
          'proto-constraint',
          'domains',
          "'domains' needs at least one item (envoy.config.route.v3.VirtualHost)",
        ],
      ],
    )
    assert.deepEqual(
      constraints('envoy.config.core.v3.HeaderValue', { key: 'bad\nname' }).map(([r, p]) => [r, p]),
      [['proto-constraint', 'key']],
    )
  })

  test('a route match needs one of its path specifiers', () => {
    assert.deepEqual(
      constraints('envoy.config.route.v3.RouteMatch', {}).map(([r]) => r),
      ['proto-oneof-required'],
    )
    assert.deepEqual(constraints('envoy.config.route.v3.RouteMatch', { prefix: '' }), [])
  })
})

test('the committed Envoy API descriptor is the pinned Envoy version (make envoy-api)', () => {
  const pinned = readFileSync(new URL('../../../envoy/VERSION', import.meta.url), 'utf8').trim()
  assert.deepEqual(loadDescriptor().api, {
    envoy: pinned,
    source: `github.com/envoyproxy/go-control-plane/envoy@v${pinned}`,
  })
})
