import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import {
  DOWNSTREAM_TLS,
  findTyped,
  isObject,
  type Json,
  objects,
  pathIn,
  processorClusterNames,
  staticClusters,
  tlsContext,
  UPSTREAM_TLS,
} from './walk-bootstrap.js'

// Faults Envoy loads without complaint that break the processor path in production, and the
// certificate setup that cannot rotate.

const TLS_ORDER: Readonly<Record<string, number>> = {
  TLS_AUTO: 0,
  TLSv1_0: 1,
  TLSv1_1: 2,
  TLSv1_2: 3,
  TLSv1_3: 4,
}
const TLS_NAMES = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3']
/** Envoy's defaults (tls.proto, envoy#9300): clients 1.2..1.2, servers 1.2..1.3. */
const DEFAULT_MIN = 3
const DEFAULT_MAX_CLIENT = 3
const DEFAULT_MAX_SERVER = 4

function tlsVersion(value: unknown): number | undefined {
  if (typeof value === 'number') return value === 0 ? undefined : value
  if (typeof value !== 'string') return undefined
  const n = TLS_ORDER[value]
  return n === 0 ? undefined : n
}

export function checkClusters(doc: Normalized, findings: Findings): void {
  const processors = processorClusterNames(doc.value)
  for (const [name, cluster] of staticClusters(doc.value)) {
    const tls = tlsContext(cluster.transport_socket, UPSTREAM_TLS)
    const processor = processors.has(name)
    if (tls !== undefined) checkHealthCheckAlpn(doc, cluster, findings)
    if (processor) checkCircuitBreakers(doc, cluster, findings)
  }
  for (const tls of findTyped(doc.value, UPSTREAM_TLS)) checkTlsRange(doc, tls, false, findings)
  for (const tls of findTyped(doc.value, DOWNSTREAM_TLS)) checkTlsRange(doc, tls, true, findings)
  checkStaticCertificates(doc, findings)
}

/** A maximum below the minimum never completes a handshake; Envoy still loads it. */
function checkTlsRange(doc: Normalized, tls: Json, server: boolean, findings: Findings): void {
  const common = isObject(tls.common_tls_context) ? tls.common_tls_context : undefined
  const params = isObject(common?.tls_params) ? common.tls_params : undefined
  if (params === undefined) return
  const min = tlsVersion(params.tls_minimum_protocol_version) ?? DEFAULT_MIN
  const explicitMax = tlsVersion(params.tls_maximum_protocol_version)
  const max = explicitMax ?? (server ? DEFAULT_MAX_SERVER : DEFAULT_MAX_CLIENT)
  if (max >= min) return
  findings.error(
    pathIn(
      doc,
      params,
      explicitMax === undefined ? 'tls_minimum_protocol_version' : 'tls_maximum_protocol_version',
    ),
    'tls-max-below-min',
    `TLS maximum ${TLS_NAMES[max]}${explicitMax === undefined ? ` (Envoy's ${server ? 'server' : 'client'} default)` : ''} is below the minimum ${TLS_NAMES[min]}: no handshake can succeed${server ? '' : ', so every request through this cluster fails'}; set tls_maximum_protocol_version: ${TLS_NAMES[min]}`,
  )
}

/** gRPC health checks send no ALPN unless told: a strict HTTP/2 server refuses them. */
function checkHealthCheckAlpn(doc: Normalized, cluster: Json, findings: Findings): void {
  for (const check of objects(cluster.health_checks)) {
    if (check.grpc_health_check === undefined) continue
    const options = isObject(check.tls_options) ? check.tls_options : undefined
    const alpn = Array.isArray(options?.alpn_protocols) ? options.alpn_protocols : []
    if (alpn.includes('h2')) continue
    findings.error(
      options === undefined ? pathIn(doc, check) : pathIn(doc, options, 'alpn_protocols'),
      'health-check-h2-alpn',
      `gRPC health check on TLS cluster '${String(cluster.name)}' offers no h2 ALPN: the processor answers it with HTTP/1 403, marks the cluster unhealthy, and every request is denied; set tls_options: { alpn_protocols: [h2] }`,
    )
  }
}

/** Envoy's default 1024 requests / 1024 pending per cluster caps processor concurrency silently. */
function checkCircuitBreakers(doc: Normalized, cluster: Json, findings: Findings): void {
  const breakers = isObject(cluster.circuit_breakers) ? cluster.circuit_breakers : undefined
  const thresholds = objects(breakers?.thresholds)
  const sized = thresholds.some(
    (t) =>
      (t.priority === undefined || t.priority === 'DEFAULT' || t.priority === 0) &&
      (t.max_requests !== undefined || t.max_pending_requests !== undefined),
  )
  if (sized) return
  findings.warning(
    pathIn(doc, cluster, breakers === undefined ? 'name' : 'circuit_breakers'),
    'ext-proc-circuit-breakers',
    `processor cluster '${String(cluster.name)}' uses Envoy's default circuit breakers (1024 requests, 1024 pending): past them requests fail with 503 (overflow) before reaching the processor; size circuit_breakers.thresholds for your load`,
  )
}

/** Certificates from files are read once: a rotated SVID needs an Envoy restart. SDS does not. */
function checkStaticCertificates(doc: Normalized, findings: Findings): void {
  const contexts = [...findTyped(doc.value, UPSTREAM_TLS), ...findTyped(doc.value, DOWNSTREAM_TLS)]
  for (const tls of contexts) {
    const common = isObject(tls.common_tls_context) ? tls.common_tls_context : undefined
    if (common === undefined) continue
    const fromFile = (ds: unknown) => isObject(ds) && ds.filename !== undefined
    const certificate = objects(common.tls_certificates).find(
      (c) => fromFile(c.certificate_chain) || fromFile(c.private_key),
    )
    const validation = isObject(common.validation_context) ? common.validation_context : undefined
    const ca = fromFile(validation?.trusted_ca) ? validation : undefined
    if (certificate === undefined && ca === undefined) continue
    findings.warning(
      certificate !== undefined ? pathIn(doc, certificate) : pathIn(doc, ca as Json, 'trusted_ca'),
      'tls-static-certificates',
      'certificates from files are read once: rotating them (SVIDs live hours) needs an Envoy restart; deliver them over SDS to rotate in place',
    )
  }
}
