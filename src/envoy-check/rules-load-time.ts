import { isIP } from 'node:net'
import { childPath, type Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import { checkTlsLoadTime } from './rules-load-time-tls.js'
import {
  EXT_PROC,
  findTyped,
  HTTP_PROTOCOL_OPTIONS,
  hasCds,
  hcmSites,
  isObject,
  type Json,
  objects,
  pathIn,
  ROUTER,
  staticClusters,
} from './walk-bootstrap.js'

// Envoy's refusals that no proto annotation carries: checks its config loaders make (`envoy
// --mode validate` prints the quoted messages). Rule ids start with `envoy-`: they are
// structural, like the proto-* ones, and the differential test holds them to Envoy's verdict.

/** Fields that make Envoy open an xDS subscription, which needs node.id and node.cluster. */
const SUBSCRIPTION_KEYS = ['sds_config', 'cds_config', 'lds_config', 'ads_config', 'config_source']

export function checkLoadTime(doc: Normalized, findings: Findings): void {
  checkHttpFilterOrder(doc, findings)
  checkFilterConfigs(doc, findings)
  checkRouteClusters(doc, findings)
  checkDuplicateNames(doc, findings)
  checkNodeIdentity(doc, findings)
  checkAddresses(doc, findings)
  checkListenerShape(doc, findings)
  checkProtocolOptionNames(doc, findings)
  checkAttributeExpressions(doc, findings)
  checkExtProcService(doc, findings)
  checkTlsLoadTime(doc, findings)
  checkApiConfigSources(doc, findings)
  checkEndpoints(doc, findings)
}

function label(filter: Json): string {
  return `'${String(filter.name ?? '(unnamed)')}'`
}

function isRouter(filter: Json): boolean {
  return isObject(filter.typed_config) && filter.typed_config['@type'] === ROUTER
}

/** "terminal filter named r ... must be the last filter", "non-terminal filter ... is the last". */
function checkHttpFilterOrder(doc: Normalized, findings: Findings): void {
  for (const site of hcmSites(doc.value)) {
    const filters = objects(site.hcm.http_filters)
    filters.forEach((filter, i) => {
      if (isRouter(filter) && i < filters.length - 1) {
        const after = filters
          .slice(i + 1)
          .map(label)
          .join(', ')
        findings.error(
          pathIn(doc, filter),
          'envoy-router-not-last',
          `the router ${label(filter)} must be the last http filter; ${after} after it never run${site.extProcFilters.some((f) => filters.indexOf(f) > i) ? ' (ext_proc after the router authorizes nothing)' : ''}`,
        )
      }
    })
    const last = filters.at(-1)
    // An empty list gets Envoy's default router; a router elsewhere is reported above. A filter
    // from ECDS or of a type check-envoy does not know (its @type stays a URL) may be terminal.
    if (last === undefined || filters.some(isRouter) || !isObject(last.typed_config)) continue
    const type = last.typed_config['@type']
    if (typeof type !== 'string' || type.includes('/')) continue
    findings.error(
      pathIn(doc, last),
      'envoy-router-missing',
      `the last http filter ${label(last)} is not the router: Envoy refuses a chain that does not end in a terminal filter`,
    )
  }
}

/** Messages Envoy turns into an extension by `typed_config` (by type URL, not by name). */
const EXTENSION_HOLDERS = new Set([
  'envoy.config.listener.v3.Filter',
  'envoy.config.listener.v3.ListenerFilter',
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  'envoy.config.core.v3.TransportSocket',
  'envoy.config.accesslog.v3.AccessLog',
])

/** Every message object of the given types in the document (iterative: depth is bounded). */
function messagesOfType(doc: Normalized, types: ReadonlySet<string>): Json[] {
  const out: Json[] = []
  const stack: unknown[] = [doc.value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object') continue
    const type = doc.typeOf.get(v)
    if (type !== undefined && types.has(type)) out.push(v as Json)
    stack.push(...Object.values(v))
  }
  return out.reverse()
}

/**
 * An extension with neither typed_config nor config_discovery: "Didn't find a registered
 * implementation for 'NAME' with type URL: ''" (filters, transport sockets, access logs).
 */
function checkFilterConfigs(doc: Normalized, findings: Findings): void {
  for (const holder of messagesOfType(doc, EXTENSION_HOLDERS)) {
    if (holder.typed_config !== undefined || holder.config_discovery !== undefined) continue
    if (holder.is_optional === true) continue
    findings.error(
      pathIn(doc, holder),
      'envoy-filter-config-missing',
      `${label(holder)} has no typed_config: Envoy finds no implementation for it`,
    )
  }
}

/** Static route tables are checked against the clusters at load: "route: unknown cluster". */
function checkRouteClusters(doc: Normalized, findings: Findings): void {
  const clusters = staticClusters(doc.value)
  const cds = hasCds(doc.value)
  for (const site of hcmSites(doc.value)) {
    const table = site.hcm.route_config
    if (!isObject(table) || table.validate_clusters === false) continue
    for (const host of objects(table.virtual_hosts)) {
      for (const route of objects(host.routes)) {
        const action = isObject(route.route) ? route.route : undefined
        if (action === undefined) continue
        const named: [Json, string][] = []
        if (typeof action.cluster === 'string') named.push([action, 'cluster'])
        const weighted = isObject(action.weighted_clusters) ? action.weighted_clusters : undefined
        for (const c of objects(weighted?.clusters)) {
          if (typeof c.name === 'string') named.push([c, 'name'])
        }
        for (const m of objects(action.request_mirror_policies)) {
          if (typeof m.cluster === 'string') named.push([m, 'cluster'])
        }
        for (const [owner, field] of named) {
          const name = owner[field] as string
          if (clusters.has(name)) continue
          findings.error(
            pathIn(doc, owner, field),
            'envoy-route-cluster-missing',
            `route: unknown cluster '${name}'${cds ? ' (Envoy checks static routes before CDS delivers clusters; set validate_clusters: false if CDS provides it)' : ''}`,
          )
        }
      }
    }
  }
}

function checkDuplicateNames(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  for (const [kind, list] of [
    ['cluster', objects(resources.clusters)],
    ['listener', objects(resources.listeners)],
  ] as const) {
    const seen = new Set<unknown>()
    for (const item of list) {
      if (typeof item.name !== 'string' || item.name === '') continue
      if (seen.has(item.name)) {
        findings.error(
          pathIn(doc, item, 'name'),
          'envoy-duplicate-name',
          `duplicate ${kind} '${item.name}'`,
        )
      }
      seen.add(item.name)
    }
  }
}

function firstKey(value: unknown, keys: readonly string[], depth = 0): string | undefined {
  if (depth > 64) return undefined
  if (Array.isArray(value)) {
    for (const v of value) {
      const hit = firstKey(v, keys, depth + 1)
      if (hit !== undefined) return hit
    }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (keys.includes(k) && isObject(v)) return k
      const hit = firstKey(v, keys, depth + 1)
      if (hit !== undefined) return hit
    }
  }
  return undefined
}

/** "node 'id' and 'cluster' are required" once any xDS subscription (SDS included) exists. */
function checkNodeIdentity(doc: Normalized, findings: Findings): void {
  const node = isObject(doc.value.node) ? doc.value.node : {}
  if (
    typeof node.id === 'string' &&
    node.id !== '' &&
    typeof node.cluster === 'string' &&
    node.cluster !== ''
  )
    return
  const key = firstKey(doc.value, SUBSCRIPTION_KEYS)
  if (key === undefined) return
  findings.error(
    isObject(doc.value.node) ? pathIn(doc, doc.value.node) : '',
    'envoy-node-identity',
    `${key} subscribes over xDS, which needs node.id and node.cluster: "node 'id' and 'cluster' are required"`,
  )
}

/** Socket addresses Envoy binds or connects to without DNS: "malformed IP address". */
function checkAddresses(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  const sockets: Json[] = []
  for (const listener of objects(resources.listeners)) {
    const address = isObject(listener.address) ? listener.address : undefined
    if (isObject(address?.socket_address)) sockets.push(address.socket_address)
  }
  for (const cluster of objects(resources.clusters)) {
    // STATIC (the default type) takes IPs; DNS types, EDS and custom cluster types resolve.
    if (!isStaticCluster(cluster)) continue
    const assignment = isObject(cluster.load_assignment) ? cluster.load_assignment : undefined
    for (const locality of objects(assignment?.endpoints)) {
      for (const lb of objects(locality.lb_endpoints)) {
        const endpoint = isObject(lb.endpoint) ? lb.endpoint : undefined
        const address = isObject(endpoint?.address) ? endpoint.address : undefined
        if (isObject(address?.socket_address)) sockets.push(address.socket_address)
      }
    }
  }
  for (const socket of sockets) {
    if (socket.resolver_name !== undefined) continue
    const host = socket.address
    if (typeof host !== 'string' || isIP(host) !== 0) continue
    findings.error(
      pathIn(doc, socket, 'address'),
      'envoy-address-not-ip',
      `malformed IP address: ${host} (a listener, or a STATIC cluster, takes an IP; use type STRICT_DNS or LOGICAL_DNS for host names)`,
    )
  }
}

/** "no filter chains specified", "address is necessary" (internal and API listeners aside). */
function checkListenerShape(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  for (const listener of objects(resources.listeners)) {
    if (listener.api_listener !== undefined || listener.internal_listener !== undefined) continue
    const name = String(listener.name ?? '(unnamed)')
    if (listener.address === undefined) {
      findings.error(
        pathIn(doc, listener),
        'envoy-listener-shape',
        `listener '${name}' has no address: "address is necessary"`,
      )
    }
    const udp =
      isObject(listener.address) && isObject(listener.address.socket_address)
        ? listener.address.socket_address.protocol === 'UDP'
        : false
    if (udp) continue
    if (
      objects(listener.filter_chains).length === 0 &&
      listener.default_filter_chain === undefined
    ) {
      findings.error(
        pathIn(doc, listener),
        'envoy-listener-shape',
        `listener '${name}' has no filter chains: "no filter chains specified"`,
      )
    }
  }
}

/** The names Envoy registers HttpProtocolOptions under (its type name, and the legacy one). */
const HTTP_PROTOCOL_OPTIONS_NAMES = [
  HTTP_PROTOCOL_OPTIONS,
  'envoy.upstreams.http.http_protocol_options',
]

/** typed_extension_protocol_options keys name a registered extension, not any string. */
function checkProtocolOptionNames(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  for (const cluster of objects(resources.clusters)) {
    const options = cluster.typed_extension_protocol_options
    if (!isObject(options)) continue
    for (const [key, value] of Object.entries(options)) {
      if (!isObject(value) || value['@type'] !== HTTP_PROTOCOL_OPTIONS) continue
      if (HTTP_PROTOCOL_OPTIONS_NAMES.includes(key)) continue
      findings.error(
        childPath(pathIn(doc, cluster, 'typed_extension_protocol_options'), key),
        'envoy-protocol-options-name',
        `HttpProtocolOptions under '${key}': Envoy finds no protocol options implementation by that name; use '${HTTP_PROTOCOL_OPTIONS}'`,
      )
    }
  }
}

/** ext_proc attributes are CEL expressions Envoy parses at load; a blank one does not parse. */
function checkAttributeExpressions(doc: Normalized, findings: Findings): void {
  for (const config of findTyped(doc.value, EXT_PROC)) {
    for (const field of ['request_attributes', 'response_attributes']) {
      const list = Array.isArray(config[field]) ? (config[field] as unknown[]) : []
      list.forEach((expression, i) => {
        if (typeof expression !== 'string' || expression.trim() !== '') return
        findings.error(
          `${pathIn(doc, config, field)}[${i}]`,
          'envoy-attribute-expression',
          `${field}[${i}] is blank: Envoy cannot parse it as an attribute expression`,
        )
      })
    }
  }
}

/** "One and only one of grpc_service or http_service must be configured". */
function checkExtProcService(doc: Normalized, findings: Findings): void {
  for (const config of findTyped(doc.value, EXT_PROC)) {
    const count = [config.grpc_service, config.http_service].filter((s) => s !== undefined).length
    if (count === 1) continue
    findings.error(
      pathIn(doc, config),
      'envoy-ext-proc-service',
      `ext_proc needs exactly one of grpc_service or http_service (has ${count === 0 ? 'neither' : 'both'})`,
    )
  }
}

const GRPC_API_TYPES = new Set(['GRPC', 'DELTA_GRPC', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC'])

/** "API configs must have either a gRPC service or a cluster name defined". */
function checkApiConfigSources(doc: Normalized, findings: Findings): void {
  const sources = messagesOfType(doc, new Set(['envoy.config.core.v3.ApiConfigSource']))
  for (const source of sources) {
    const type = source.api_type
    const grpc = objects(source.grpc_services).length > 0
    const clusters = Array.isArray(source.cluster_names) && source.cluster_names.length > 0
    const missing =
      typeof type === 'string' && GRPC_API_TYPES.has(type) ? !grpc : type === 'REST' && !clusters
    if (!missing) continue
    findings.error(
      pathIn(doc, source),
      'envoy-api-config-source',
      `api_type ${String(type)} without ${type === 'REST' ? 'cluster_names' : 'grpc_services'}: "API configs must have either a gRPC service or a cluster name defined"`,
    )
  }
}

/** A STATIC cluster resolves its endpoints at load: one without an address is "Address must be set". */
function checkEndpoints(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  for (const cluster of objects(resources.clusters)) {
    if (!isStaticCluster(cluster)) continue
    const assignment = isObject(cluster.load_assignment) ? cluster.load_assignment : undefined
    for (const locality of objects(assignment?.endpoints)) {
      for (const lb of objects(locality.lb_endpoints)) {
        if (lb.endpoint_name !== undefined) continue
        const endpoint = isObject(lb.endpoint) ? lb.endpoint : undefined
        if (endpoint?.address !== undefined) continue
        findings.error(
          pathIn(doc, endpoint ?? lb),
          'envoy-endpoint-address',
          `an endpoint of STATIC cluster '${String(cluster.name)}' without an address: "Address must be set"`,
        )
      }
    }
  }
}

/** STATIC (the default type): no DNS, no EDS, no custom cluster type. */
function isStaticCluster(cluster: Json): boolean {
  if (cluster.cluster_type !== undefined) return false
  return cluster.type === undefined || cluster.type === 'STATIC' || cluster.type === 0
}
