import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import { checkGrpcCluster } from './rules-ext-proc.js'
import {
  EXT_PROC_PER_ROUTE,
  type HcmSite,
  isObject,
  type Json,
  objects,
  pathIn,
} from './walk-bootstrap.js'

const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig'

/** Names a route for a person: its name, else its match. */
function routeLabel(route: Json | undefined, fallback: string): string {
  if (route === undefined) return fallback
  if (typeof route.name === 'string' && route.name !== '') return `route '${route.name}'`
  return `route ${JSON.stringify(route.match ?? {})}`
}

/**
 * Per-route ExtProcPerRoute (route config, virtual host, route, weighted cluster) under the
 * ext_proc filter's name: `disabled: true` or `overrides.failure_mode_allow: true` turns the
 * authorizer off for those requests.
 */
export function checkPerRoute(doc: Normalized, site: HcmSite, findings: Findings): void {
  const names = new Set(site.extProcFilters.map((f) => f.name))
  const routeConfig = site.hcm.route_config
  if (!isObject(routeConfig)) return // rds / scoped routes: not in this file
  const check = (owner: Json, where: string) => {
    const perFilter = owner.typed_per_filter_config
    if (!isObject(perFilter)) return
    for (const [key, entry] of Object.entries(perFilter)) {
      if (!isObject(entry)) continue
      // FilterConfig wraps the per-route config and can itself disable the filter.
      const wrapped = entry['@type'] === FILTER_CONFIG
      const config = wrapped && isObject(entry.config) ? entry.config : entry
      if (!names.has(key) && config['@type'] !== EXT_PROC_PER_ROUTE) continue
      if (wrapped && entry.disabled === true) {
        findings.error(
          pathIn(doc, entry, 'disabled'),
          'ext-proc-per-route-disabled',
          `${where} disables ext_proc filter '${key}' (FilterConfig disabled): those requests are not authorized`,
        )
      }
      if (config['@type'] !== EXT_PROC_PER_ROUTE) continue
      if (config.disabled === true) {
        findings.error(
          pathIn(doc, config, 'disabled'),
          'ext-proc-per-route-disabled',
          `${where} disables ext_proc ('${key}'): those requests are not authorized`,
        )
      }
      const overrides = isObject(config.overrides) ? config.overrides : undefined
      if (overrides?.failure_mode_allow === true) {
        findings.error(
          pathIn(doc, overrides, 'failure_mode_allow'),
          'ext-proc-per-route-failure-mode-allow',
          `${where} sets failure_mode_allow: true for ext_proc ('${key}'): it fails open there`,
        )
      }
      if (overrides !== undefined) checkGrpcCluster(doc, overrides, findings)
    }
  }
  check(routeConfig, `route configuration '${String(routeConfig.name ?? '')}'`)
  for (const host of objects(routeConfig.virtual_hosts)) {
    check(host, `virtual host '${String(host.name ?? '')}'`)
    for (const route of objects(host.routes)) {
      const label = routeLabel(route, 'a route')
      check(route, label)
      const weighted = isObject(route.route) ? route.route.weighted_clusters : undefined
      if (isObject(weighted)) {
        for (const cluster of objects(weighted.clusters))
          check(cluster, `${label} (weighted cluster '${String(cluster.name)}')`)
      }
    }
  }
}
