import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import {
  EXT_PROC,
  findTyped,
  HTTP_PROTOCOL_OPTIONS,
  isObject,
  type Json,
  objects,
  pathIn,
} from './walk-bootstrap.js'
import { durationMs } from './well-known.js'

/** Envoy's own default when message_timeout is unset (ext_proc.proto). */
const ENVOY_DEFAULT_MESSAGE_TIMEOUT_MS = 200

interface ExtProcRuleOptions {
  /** Smallest acceptable message_timeout. */
  readonly minMessageTimeoutMs: number
  /** The processor's decision-metadata namespace, when it sends one. */
  readonly metadataNamespace?: string | undefined
}

/** Rules on every ExternalProcessor config, wherever it sits. */
export function checkExtProcFilters(
  doc: Normalized,
  findings: Findings,
  options: ExtProcRuleOptions,
): void {
  for (const config of findTyped(doc.value, EXT_PROC)) {
    if (config.failure_mode_allow === true) {
      findings.error(
        pathIn(doc, config, 'failure_mode_allow'),
        'ext-proc-failure-mode-allow',
        'failure_mode_allow: true lets requests through when the processor fails (fail open)',
      )
    }
    if (config.observability_mode === true) {
      findings.error(
        pathIn(doc, config, 'observability_mode'),
        'ext-proc-observability-mode',
        'observability_mode: true sends requests upstream without waiting for (or obeying) the processor',
      )
    }
    if (config.allow_mode_override === true) {
      findings.warning(
        pathIn(doc, config, 'allow_mode_override'),
        'ext-proc-allow-mode-override',
        'allow_mode_override: true lets processor responses change the processing mode',
      )
    }
    checkMessageTimeout(doc, config, findings, options.minMessageTimeoutMs)
    const mode = isObject(config.processing_mode)
      ? config.processing_mode.response_header_mode
      : undefined
    if (mode !== 'SKIP' && mode !== 2) {
      findings.warning(
        pathIn(doc, config, 'processing_mode.response_header_mode'),
        'ext-proc-response-headers',
        `response_header_mode is ${mode === undefined ? 'unset (SEND)' : String(mode)}: a second round trip per request the authorizer does not need; set SKIP`,
      )
    }
    checkGrpcCluster(doc, config, findings)
    if (options.metadataNamespace !== undefined) {
      checkReceivingNamespace(doc, config, findings, options.metadataNamespace)
    }
  }
}

/**
 * Envoy writes only the dynamic-metadata namespaces listed in
 * metadata_options.receiving_namespaces.untyped (none when unset): the processor's decisions
 * would be dropped, and access logs and rate limits reading them see nothing.
 */
function checkReceivingNamespace(
  doc: Normalized,
  config: Json,
  findings: Findings,
  namespace: string,
): void {
  const options = isObject(config.metadata_options) ? config.metadata_options : undefined
  const receiving = isObject(options?.receiving_namespaces)
    ? options.receiving_namespaces
    : undefined
  const untyped = Array.isArray(receiving?.untyped) ? receiving.untyped : []
  if (untyped.includes(namespace)) return
  findings.warning(
    receiving !== undefined
      ? pathIn(doc, receiving, 'untyped')
      : options !== undefined
        ? pathIn(doc, options, 'receiving_namespaces')
        : pathIn(doc, config),
    'ext-proc-metadata-namespace',
    `the processor sends its decisions as dynamic metadata under '${namespace}' (decision_metadata), but metadata_options.receiving_namespaces.untyped does not list it: Envoy drops them, and access logs or rate limits reading ${namespace} see nothing; list it, or set decision_metadata.enabled: false`,
  )
}

function checkMessageTimeout(
  doc: Normalized,
  config: Json,
  findings: Findings,
  floorMs: number,
): void {
  const path = pathIn(doc, config, 'message_timeout')
  if (config.message_timeout === undefined) {
    findings.error(
      path,
      'ext-proc-message-timeout',
      `message_timeout is unset: Envoy's ${ENVOY_DEFAULT_MESSAGE_TIMEOUT_MS} ms default turns slow decisions (an uncached RSA-4096 decryption under load) into 504s; set at least ${floorMs} ms`,
    )
    return
  }
  const ms = durationMs(config.message_timeout)
  if (ms !== undefined && ms < floorMs) {
    findings.error(
      path,
      'ext-proc-message-timeout',
      `message_timeout ${String(config.message_timeout)} is below the floor of ${floorMs} ms (--min-message-timeout)`,
    )
  }
}

/**
 * The envoy_grpc cluster of an ext_proc config (or of a per-route override) must exist and speak
 * HTTP/2. A missing cluster does not fail closed: Envoy passes requests through (envoy#45220).
 */
export function checkGrpcCluster(doc: Normalized, owner: Json, findings: Findings): void {
  const service = owner.grpc_service
  if (!isObject(service) || !isObject(service.envoy_grpc)) return // google_grpc: a target, not a cluster
  const name = service.envoy_grpc.cluster_name
  if (typeof name !== 'string') return
  const path = pathIn(doc, service.envoy_grpc, 'cluster_name')
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  const cluster = objects(resources.clusters).find((c) => c.name === name)
  if (cluster === undefined) {
    const dynamic = isObject(doc.value.dynamic_resources) ? doc.value.dynamic_resources : {}
    const cds = dynamic.cds_config !== undefined || dynamic.cds_resources_locator !== undefined
    const message = `cluster '${name}' is not in static_resources.clusters: Envoy then lets requests through without asking the processor (fails open, envoy#45220)`
    if (cds)
      findings.warning(path, 'ext-proc-cluster-missing', `${message}, unless CDS provides it`)
    else findings.error(path, 'ext-proc-cluster-missing', message)
    return
  }
  checkHttp2(doc, cluster, findings)
}

function checkHttp2(doc: Normalized, cluster: Json, findings: Findings): void {
  if (cluster.http2_protocol_options !== undefined) return // deprecated, still honoured
  const options = isObject(cluster.typed_extension_protocol_options)
    ? Object.values(cluster.typed_extension_protocol_options).filter(
        (o): o is Json => isObject(o) && o['@type'] === HTTP_PROTOCOL_OPTIONS,
      )
    : []
  const http = options[0]
  const explicit = isObject(http?.explicit_http_config) ? http.explicit_http_config : undefined
  if (explicit?.http2_protocol_options !== undefined) return
  const path = pathIn(doc, cluster, 'typed_extension_protocol_options')
  if (http?.auto_config !== undefined) {
    findings.warning(
      path,
      'ext-proc-cluster-http2',
      `cluster '${String(cluster.name)}' picks its protocol by ALPN (auto_config); gRPC needs HTTP/2: prefer explicit_http_config.http2_protocol_options`,
    )
    return
  }
  findings.error(
    path,
    'ext-proc-cluster-http2',
    `cluster '${String(cluster.name)}' carries ext_proc gRPC but is not HTTP/2: set HttpProtocolOptions explicit_http_config.http2_protocol_options`,
  )
}
