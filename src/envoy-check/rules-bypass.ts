import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import {
  EXT_PROC,
  HCM,
  hcmSites,
  isObject,
  type Json,
  objects,
  pathIn,
  TCP_PROXY,
} from './walk-bootstrap.js'

// Every way a request can reach an upstream without passing the processor, and the bootstrap
// settings that let a client get around what the processor decides.

interface BypassRuleOptions {
  /** Header names the processor sets upstream (identity headers). */
  readonly identityHeaders: readonly string[]
}

export function checkBypasses(
  doc: Normalized,
  findings: Findings,
  options: BypassRuleOptions,
): void {
  checkBootstrapShape(doc, findings)
  checkAdmin(doc, findings)
  checkHcms(doc, findings, options)
  checkNetworkFilters(doc, findings)
}

/** An empty or non-bootstrap document serves nothing: never "ok". */
function checkBootstrapShape(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  const dynamic = isObject(doc.value.dynamic_resources) ? doc.value.dynamic_resources : {}
  const listeners = objects(resources.listeners).length > 0
  const lds = dynamic.lds_config !== undefined || dynamic.lds_resources_locator !== undefined
  if (listeners || lds) return
  findings.error(
    '',
    'bootstrap-empty',
    Object.keys(doc.value).length === 0
      ? 'not an Envoy bootstrap: the document is empty'
      : 'no listeners (static_resources.listeners or LDS): this bootstrap serves nothing, so there is nothing to check',
  )
}

const LOOPBACK =
  /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|0:0:0:0:0:0:0:1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/** The admin interface can change state (drain, log levels, quit): loopback or a pipe only. */
function checkAdmin(doc: Normalized, findings: Findings): void {
  const admin = isObject(doc.value.admin) ? doc.value.admin : undefined
  const address = isObject(admin?.address) ? admin.address : undefined
  const socket = isObject(address?.socket_address) ? address.socket_address : undefined
  if (socket === undefined) return // no admin, or a pipe / internal address
  const host = typeof socket.address === 'string' ? socket.address : ''
  if (LOOPBACK.test(host)) return
  findings.error(
    pathIn(doc, socket, 'address'),
    'admin-off-loopback',
    `admin listens on ${host || '(no address)'}: anyone who reaches it can drain listeners, change log levels or stop Envoy; bind 127.0.0.1`,
  )
}

/** Does this connection manager send requests to an upstream cluster? */
function routesUpstream(hcm: Json): boolean {
  if (!isObject(hcm.route_config)) return true // RDS / scoped routes: assume it does
  return objects(hcm.route_config.virtual_hosts).some((host) =>
    objects(host.routes).some((route) => isObject(route.route)),
  )
}

function hasExtProc(hcm: Json): boolean {
  // A filter disabled by default is still there: ext-proc-disabled reports it.
  return objects(hcm.http_filters).some((f) => {
    if (isObject(f.typed_config) && f.typed_config['@type'] === EXT_PROC) return true
    const discovery = isObject(f.config_discovery) ? f.config_discovery : undefined
    const urls = Array.isArray(discovery?.type_urls) ? discovery.type_urls : []
    return urls.some((u) => typeof u === 'string' && u.endsWith(`/${EXT_PROC}`))
  })
}

function checkHcms(doc: Normalized, findings: Findings, options: BypassRuleOptions): void {
  const dashed = options.identityHeaders.filter((h) => h.includes('-'))
  for (const site of hcmSites(doc.value)) {
    const listener = String(site.listener.name ?? '(unnamed)')
    if (!routesUpstream(site.hcm)) continue
    if (!hasExtProc(site.hcm)) {
      findings.error(
        pathIn(doc, site.hcm, 'http_filters'),
        'ext-proc-missing',
        `listener '${listener}' routes requests upstream with no ext_proc filter: they are never authorized`,
      )
      continue
    }
    if (dashed.length === 0) continue
    const options_ = isObject(site.hcm.common_http_protocol_options)
      ? site.hcm.common_http_protocol_options
      : undefined
    const action = options_?.headers_with_underscores_action
    if (action === 'REJECT_REQUEST' || action === 'DROP_HEADER' || action === 1 || action === 2)
      continue
    findings.error(
      options_ === undefined
        ? pathIn(doc, site.hcm)
        : pathIn(doc, options_, 'headers_with_underscores_action'),
      'hcm-underscore-headers',
      `listener '${listener}' passes headers with underscores: a client's ${dashed[0]?.replaceAll('-', '_')} reaches upstreams that read it as ${dashed[0]} (CGI, nginx, many frameworks); set common_http_protocol_options.headers_with_underscores_action: REJECT_REQUEST`,
    )
  }
}

/** Cluster names a network filter config sends to (tcp_proxy and friends), by field. */
function clusterRefs(value: unknown, out: [Json, string][] = [], depth = 0): [Json, string][] {
  if (depth > 32) return out
  if (Array.isArray(value)) {
    for (const v of value) clusterRefs(v, out, depth + 1)
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'cluster' || k === 'cluster_name') && typeof v === 'string') out.push([value, k])
      else if (k === 'weighted_clusters' && isObject(v)) {
        for (const c of objects(v.clusters)) if (typeof c.name === 'string') out.push([c, 'name'])
      } else clusterRefs(v, out, depth + 1)
    }
  }
  return out
}

/**
 * A listener whose network filters forward to a cluster without an HTTP connection manager
 * (tcp_proxy, or any proxy naming a cluster) reaches the upstream without ext_proc.
 */
function checkNetworkFilters(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  for (const listener of objects(resources.listeners)) {
    const chains = [
      ...objects(listener.filter_chains),
      ...(isObject(listener.default_filter_chain) ? [listener.default_filter_chain] : []),
    ]
    for (const chain of chains) {
      // The terminal (last) filter is the one that forwards; earlier ones (network ext_authz,
      // rate limits) name clusters of side services.
      const terminal = objects(chain.filters).at(-1)
      const config = isObject(terminal?.typed_config) ? terminal.typed_config : undefined
      if (config === undefined || config['@type'] === HCM) continue
      const [ref] = clusterRefs(config)
      if (ref === undefined) continue
      const [owner, field] = ref
      const kind = config['@type'] === TCP_PROXY ? 'tcp_proxy' : String(config['@type'])
      findings.error(
        pathIn(doc, owner, field),
        'listener-bypass',
        `listener '${String(listener.name ?? '(unnamed)')}' forwards to cluster '${String(owner[field])}' with ${kind}, never through ext_proc`,
      )
    }
  }
}
