import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { REPO_ROOT } from '../helpers/lab-files.js'

// envoy/envoy-sds.yaml (SPIRE agent SDS) and envoy/sds-path/envoy-sds-path.yaml (path-based SDS) must keep
// every guarantee of envoy/envoy.yaml: they may differ from it only in where certificates come
// from, in addresses/SNI (Kubernetes names) and in the SPIFFE IDs (SPIRE's ns/sa form), and from
// each other only in the SDS source. test/lab/envoy-sds.test.ts runs them under real Envoy;
// test/unit/kubernetes-manifests.test.ts checks them against deploy/kubernetes.

// biome-ignore lint/suspicious/noExplicitAny: Envoy bootstraps are walked as plain data
type Any = any

const read = (f: string): Any => parse(readFileSync(join(REPO_ROOT, 'envoy', f), 'utf8'))
const TLS = 'envoy.transport_sockets.tls'

function listenerTls(b: Any): Any {
  return b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config
}
function hcm(b: Any): Any {
  return b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config
}
function extProc(b: Any): Any {
  return hcm(b).http_filters.find((f: Any) => f.name === 'envoy.filters.http.ext_proc').typed_config
}
function cluster(b: Any, name: string): Any {
  const c = b.static_resources.clusters.find((x: Any) => x.name === name)
  assert.ok(c, `cluster ${name}`)
  return c
}
const processorCluster = (b: Any) => cluster(b, extProc(b).grpc_service.envoy_grpc.cluster_name)

/** Certificate sources and SAN matchers of a CommonTlsContext, in one comparable shape. */
function certSources(ctx: Any): { svid: string; bundle: string; sans: Any } {
  const sds = ctx.tls_certificate_sds_secret_configs
  const combined = ctx.combined_validation_context
  return {
    svid: sds ? `sds:${sds[0].name}` : `file:${ctx.tls_certificates[0].certificate_chain.filename}`,
    bundle: combined
      ? `sds:${combined.validation_context_sds_secret_config.name}`
      : `file:${ctx.validation_context.trusted_ca.filename}`,
    sans: combined
      ? combined.default_validation_context.match_typed_subject_alt_names
      : ctx.validation_context.match_typed_subject_alt_names,
  }
}

/**
 * The bootstrap with what may differ taken out: the node, certificate sources, SAN values,
 * endpoint addresses, SNI, and the SPIRE agent's cluster. Everything else must be identical.
 */
function policyOnly(b: Any): Any {
  const c = structuredClone(b)
  delete c.node
  c.static_resources.clusters = c.static_resources.clusters.filter(
    (x: Any) => x.name !== 'spire_agent',
  )
  const strip = (ctx: Any) => {
    for (const k of [
      'tls_certificates',
      'validation_context',
      'tls_certificate_sds_secret_configs',
      'combined_validation_context',
    ])
      delete ctx[k]
  }
  strip(listenerTls(c).common_tls_context)
  for (const cl of c.static_resources.clusters) {
    for (const e of cl.load_assignment.endpoints)
      for (const lb of e.lb_endpoints) lb.endpoint.address.socket_address.address = 'ADDRESS'
    const tls = cl.transport_socket?.typed_config
    if (tls) {
      strip(tls.common_tls_context)
      delete tls.sni
    }
  }
  return c
}

/** Every sds_config in a bootstrap. */
function sdsConfigs(node: Any): Any[] {
  if (Array.isArray(node)) return node.flatMap(sdsConfigs)
  if (node === null || typeof node !== 'object') return []
  return Object.entries(node).flatMap(([k, v]) => (k === 'sds_config' ? [v] : sdsConfigs(v)))
}

const BASE = read('envoy.yaml')
const SDS = {
  'envoy-sds.yaml': read('envoy-sds.yaml'),
  'envoy-sds-path.yaml': read('sds-path/envoy-sds-path.yaml'),
}
const ENVOY_ID = 'spiffe://example.org/ns/gateway/sa/envoy'
const PROCESSOR_ID = 'spiffe://example.org/ns/extproc-authz/sa/extproc-authz'

describe('the SDS Envoy configs', () => {
  test('keep everything envoy.yaml sets, except certificate sources, addresses, SNI and IDs', () => {
    for (const [name, b] of Object.entries(SDS)) {
      assert.deepEqual(policyOnly(b), policyOnly(BASE), `${name} drifted from envoy.yaml`)
    }
  })

  test('differ from each other only in the SDS source', () => {
    const bySource = (b: Any): Any => {
      const c = policyOnly(b)
      const ctx = (t: Any) => certSources(t.common_tls_context)
      return {
        c,
        listener: ctx(listenerTls(b)),
        processor: ctx(processorCluster(b).transport_socket.typed_config),
        sni: processorCluster(b).transport_socket.typed_config.sni,
        address: processorCluster(b).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address,
      }
    }
    assert.deepEqual(bySource(SDS['envoy-sds.yaml']), bySource(SDS['envoy-sds-path.yaml']))
  })

  for (const [name, b] of Object.entries(SDS)) {
    test(`${name}: the guarantees, stated`, () => {
      assert.deepEqual(b.admin.address.socket_address.address, '127.0.0.1', 'admin on loopback')
      assert.ok(b.node?.id && b.node?.cluster, 'SDS needs a node id and cluster')
      const down = listenerTls(b)
      assert.equal(down.require_client_certificate, true)
      assert.equal(down.common_tls_context.tls_params.tls_minimum_protocol_version, 'TLSv1_3')
      assert.deepEqual(certSources(down.common_tls_context), {
        svid: `sds:${ENVOY_ID}`,
        bundle: 'sds:spiffe://example.org',
        sans: [{ san_type: 'URI', matcher: { prefix: 'spiffe://example.org/' } }],
      })
      assert.equal(
        hcm(b).common_http_protocol_options?.headers_with_underscores_action,
        'REJECT_REQUEST',
      )
      assert.equal(hcm(b).forward_client_cert_details, 'SANITIZE')
      const ep = extProc(b)
      assert.equal(ep.failure_mode_allow, false)
      assert.equal(ep.observability_mode, false)
      assert.equal(ep.processing_mode.response_header_mode, 'SKIP')
      assert.deepEqual(ep.mutation_rules, { disallow_system: true, disallow_is_error: true })
      const pc = processorCluster(b)
      const up = pc.transport_socket
      assert.equal(up.name, TLS)
      assert.deepEqual(up.typed_config.common_tls_context.tls_params, {
        tls_minimum_protocol_version: 'TLSv1_3',
        tls_maximum_protocol_version: 'TLSv1_3',
      })
      assert.deepEqual(certSources(up.typed_config.common_tls_context), {
        svid: `sds:${ENVOY_ID}`,
        bundle: 'sds:spiffe://example.org',
        sans: [{ san_type: 'URI', matcher: { exact: PROCESSOR_ID } }],
      })
      const fqdn = 'extproc-authz.extproc-authz.svc.cluster.local'
      assert.equal(up.typed_config.sni, fqdn)
      assert.equal(
        pc.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address,
        fqdn,
      )
      assert.ok(pc.health_checks.length > 0)
      for (const hc of pc.health_checks) {
        assert.ok(hc.grpc_health_check)
        assert.deepEqual(hc.tls_options?.alpn_protocols, ['h2'])
      }
    })
  }

  test('envoy-sds.yaml: every secret from the SPIRE agent over its Workload API socket', () => {
    const b = SDS['envoy-sds.yaml']
    const configs = sdsConfigs(b)
    assert.equal(configs.length, 4, 'listener and processor cluster: SVID and bundle each')
    const spire = cluster(b, 'spire_agent')
    assert.equal(
      spire.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path,
      '/spiffe-workload-api/spire-agent.sock',
    )
    assert.ok(spire.typed_extension_protocol_options, 'HTTP/2 for gRPC')
    for (const sds of configs) {
      assert.equal(sds.api_config_source.api_type, 'GRPC')
      assert.deepEqual(sds.api_config_source.grpc_services, [
        { envoy_grpc: { cluster_name: 'spire_agent' } },
      ])
    }
  })

  test('envoy-sds-path.yaml: each secret from an envoy/sds-path/*.sds.yaml file holding that one secret', () => {
    const b = SDS['envoy-sds-path.yaml']
    const seen = new Set<string>()
    const walk = (node: Any, name?: string): void => {
      if (Array.isArray(node)) for (const v of node) walk(v, name)
      else if (node !== null && typeof node === 'object') {
        if (node.sds_config && node.name) {
          const src = node.sds_config.path_config_source
          assert.ok(src, `${node.name}: path_config_source`)
          assert.equal(src.watched_directory.path, posix.dirname(src.path))
          assert.ok(src.path.startsWith('/etc/envoy/sds/'), src.path)
          const file = join(REPO_ROOT, 'envoy', 'sds-path', posix.basename(src.path))
          assert.ok(existsSync(file), file)
          const res = parse(readFileSync(file, 'utf8')).resources
          assert.equal(res.length, 1)
          assert.equal(
            res[0]['@type'],
            'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          )
          assert.equal(res[0].name, node.name, `${file} holds the secret ${node.name}`)
          const dir = (res[0].tls_certificate ?? res[0].validation_context).watched_directory.path
          for (const f of JSON.stringify(res[0]).matchAll(/"filename":"([^"]+)"/g))
            assert.equal(posix.dirname(f[1] as string), dir, `${f[1]} is in the watched directory`)
          seen.add(node.name)
        }
        for (const v of Object.values(node)) walk(v, name)
      }
    }
    walk(b)
    assert.deepEqual([...seen].sort(), ['spiffe://example.org', ENVOY_ID])
  })
})
