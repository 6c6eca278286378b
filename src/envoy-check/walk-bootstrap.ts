import { isObject, type Json, type Normalized } from './normalized.js'

export { isObject, type Json }

export const EXT_PROC = 'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor'
export const EXT_PROC_PER_ROUTE = 'envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute'
export const HCM =
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'
export const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'
export const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
export const ROUTER = 'envoy.extensions.filters.http.router.v3.Router'
export const TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'

export function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : []
}

/** An HTTP connection manager in a listener's filter chain, with the ext_proc filters it runs. */
export interface HcmSite {
  readonly listener: Json
  readonly chain: Json
  readonly hcm: Json
  /** `http_filters` entries whose typed_config is an ExternalProcessor. */
  readonly extProcFilters: readonly Json[]
}

/** Every HCM of every static listener (filter_chains and default_filter_chain). */
export function hcmSites(bootstrap: Json): HcmSite[] {
  const sites: HcmSite[] = []
  const listeners = objects((bootstrap.static_resources as Json | undefined)?.listeners)
  for (const listener of listeners) {
    const chains = objects(listener.filter_chains)
    if (isObject(listener.default_filter_chain)) chains.push(listener.default_filter_chain)
    for (const chain of chains) {
      for (const filter of objects(chain.filters)) {
        const hcm = filter.typed_config
        if (!isObject(hcm) || hcm['@type'] !== HCM) continue
        const extProcFilters = objects(hcm.http_filters).filter(
          (f) => isObject(f.typed_config) && f.typed_config['@type'] === EXT_PROC,
        )
        sites.push({ listener, chain, hcm, extProcFilters })
      }
    }
  }
  return sites
}

/** The static clusters, by name. */
export function staticClusters(bootstrap: Json): Map<string, Json> {
  const resources = isObject(bootstrap.static_resources) ? bootstrap.static_resources : {}
  const out = new Map<string, Json>()
  for (const c of objects(resources.clusters)) {
    if (typeof c.name === 'string' && !out.has(c.name)) out.set(c.name, c)
  }
  return out
}

/** CDS may add clusters this file does not show. */
export function hasCds(bootstrap: Json): boolean {
  const dynamic = isObject(bootstrap.dynamic_resources) ? bootstrap.dynamic_resources : {}
  return dynamic.cds_config !== undefined || dynamic.cds_resources_locator !== undefined
}

/** Clusters the ext_proc filters (and per-route overrides) send their gRPC streams to. */
export function processorClusterNames(bootstrap: Json): Set<string> {
  const names = new Set<string>()
  const configs = [
    ...findTyped(bootstrap, EXT_PROC),
    ...findTyped(bootstrap, EXT_PROC_PER_ROUTE).flatMap((c) =>
      isObject(c.overrides) ? [c.overrides] : [],
    ),
  ]
  for (const config of configs) {
    const service = isObject(config.grpc_service) ? config.grpc_service : undefined
    const name = isObject(service?.envoy_grpc) ? service.envoy_grpc.cluster_name : undefined
    if (typeof name === 'string') names.add(name)
  }
  return names
}

/** The TLS context of a transport socket, when it is one of the given type. */
export function tlsContext(socket: unknown, type: string): Json | undefined {
  if (!isObject(socket) || !isObject(socket.typed_config)) return undefined
  return socket.typed_config['@type'] === type ? socket.typed_config : undefined
}

/** Every object with the given @type, wherever it sits in the document. */
export function findTyped(value: unknown, type: string, out: Json[] = []): Json[] {
  if (Array.isArray(value)) {
    for (const v of value) findTyped(v, type, out)
  } else if (isObject(value)) {
    if (value['@type'] === type) out.push(value)
    for (const v of Object.values(value)) findTyped(v, type, out)
  }
  return out
}

/** Path of a normalized object as written in the file, with an optional field appended. */
export function pathIn(doc: Normalized, object: Json, field?: string): string {
  const base = doc.pathOf.get(object) ?? '?'
  if (field === undefined) return base
  // Spell the field as the file did (snake_case or lowerCamel); a nested tail stays proto-named.
  const [head = field, ...tail] = field.split('.')
  const written = [doc.keysOf.get(object)?.get(head) ?? head, ...tail].join('.')
  return base === '' ? written : `${base}.${written}`
}
