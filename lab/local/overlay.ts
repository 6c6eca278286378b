import { parse, stringify } from 'yaml'

// The one mechanism by which a lab outside Docker runs the shipped Envoy and processor configs:
// only addresses, ports and certificate paths change, plus (for the drain and overload cases)
// the processor endpoint list and the processor cluster's circuit-breaker thresholds. Every
// other byte of policy (ext_proc settings, TLS, SANs, health checks) is the shipped file's.

/** Where the shipped configs expect the lab PKI and the runner key (the compose volumes). */
export const SHIPPED_CERT_DIR = '/etc/extproc-authz/certs'
export const SHIPPED_KEY_DIR = '/etc/extproc-authz/keys'
/** The processor cluster and the upstream cluster of envoy/*.yaml. */
export const PROCESSOR_CLUSTER = 'extproc_authz'
export const UPSTREAM_CLUSTER = 'upstream'

export interface HostPort {
  readonly host: string
  readonly port: number
}

export interface CircuitBreakerThresholds {
  readonly max_connections?: number
  readonly max_pending_requests?: number
  readonly max_requests?: number
  readonly max_retries?: number
}

export interface EnvoyOverlay {
  /** Replaces SHIPPED_CERT_DIR in every `filename:`. */
  readonly certDir: string
  /** Every listener binds 127.0.0.1 on this port (0: any free port; read it from the admin). */
  readonly listenerPort: number
  /** The admin interface stays on 127.0.0.1; this sets its port (0: any free port). */
  readonly adminPort: number
  readonly processors: readonly HostPort[]
  readonly upstream: HostPort
  readonly processorCircuitBreakers?: CircuitBreakerThresholds
}

type Node = Record<string, unknown>

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function child(node: Node, key: string, where: string): Node {
  const v = node[key]
  if (!isNode(v)) throw new Error(`overlay: ${where}.${key} is missing`)
  return v
}

function rewriteFilenames(node: unknown, from: string, to: string): void {
  if (Array.isArray(node)) for (const v of node) rewriteFilenames(v, from, to)
  else if (isNode(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'filename' && typeof v === 'string' && v.startsWith(`${from}/`)) {
        node[k] = `${to}${v.slice(from.length)}`
      } else rewriteFilenames(v, from, to)
    }
  }
}

function endpoints(cluster: Node, hosts: readonly HostPort[]): void {
  const name = String(cluster.name)
  cluster.load_assignment = {
    cluster_name: name,
    endpoints: [
      {
        lb_endpoints: hosts.map((h) => ({
          endpoint: { address: { socket_address: { address: h.host, port_value: h.port } } },
        })),
      },
    ],
  }
}

/** The shipped Envoy bootstrap (YAML text) with the lab's overlay applied, as YAML text. */
export function overlayEnvoyConfig(text: string, o: EnvoyOverlay): string {
  const doc = parse(text) as unknown
  if (!isNode(doc)) throw new Error('overlay: not an Envoy bootstrap')
  const admin = child(child(child(doc, 'admin', ''), 'address', 'admin'), 'socket_address', 'admin')
  if (admin.address !== '127.0.0.1')
    throw new Error('overlay: the shipped admin is not on loopback')
  admin.port_value = o.adminPort
  const resources = child(doc, 'static_resources', '')
  const listeners = resources.listeners
  const clusters = resources.clusters
  if (!Array.isArray(listeners) || !Array.isArray(clusters)) {
    throw new Error('overlay: static_resources needs listeners and clusters')
  }
  for (const l of listeners as Node[]) {
    const sa = child(child(l, 'address', 'listener'), 'socket_address', 'listener.address')
    sa.address = '127.0.0.1'
    sa.port_value = o.listenerPort
  }
  const cluster = (name: string): Node => {
    const c = (clusters as Node[]).find((x) => x.name === name)
    if (c === undefined) throw new Error(`overlay: no cluster ${name}`)
    return c
  }
  const processor = cluster(PROCESSOR_CLUSTER)
  endpoints(processor, o.processors)
  endpoints(cluster(UPSTREAM_CLUSTER), [o.upstream])
  if (o.processorCircuitBreakers !== undefined) {
    const cb = child(processor, 'circuit_breakers', PROCESSOR_CLUSTER)
    const thresholds = cb.thresholds
    if (!Array.isArray(thresholds) || thresholds.length === 0) {
      throw new Error('overlay: the processor cluster has no circuit-breaker thresholds')
    }
    Object.assign(thresholds[0] as Node, o.processorCircuitBreakers)
  }
  rewriteFilenames(doc, SHIPPED_CERT_DIR, o.certDir)
  return stringify(doc)
}

export interface ProcessorOverlay {
  readonly certDir: string
  readonly keyDir: string
  /** The processor's gRPC listen address. */
  readonly listen: HostPort
}

function rewriteStrings(node: unknown, map: ReadonlyArray<readonly [string, string]>): unknown {
  if (typeof node === 'string') {
    for (const [from, to] of map)
      if (node.startsWith(`${from}/`)) return to + node.slice(from.length)
    return node
  }
  if (Array.isArray(node)) return node.map((v) => rewriteStrings(v, map))
  if (isNode(node)) {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rewriteStrings(v, map)]))
  }
  return node
}

/** lab/config.yaml (YAML text) with file locations and the listen addresses moved. */
export function overlayProcessorConfig(text: string, o: ProcessorOverlay): string {
  const doc = rewriteStrings(parse(text), [
    [SHIPPED_CERT_DIR, o.certDir],
    [SHIPPED_KEY_DIR, o.keyDir],
  ])
  if (!isNode(doc)) throw new Error('overlay: not a processor config')
  doc.listen = `${o.listen.host}:${o.listen.port}`
  // The admin endpoint (health, metrics) on any free loopback port: the lab reads it from the
  // start log line; several processors run side by side.
  doc.admin = { ...(isNode(doc.admin) ? doc.admin : {}), listen: '127.0.0.1:0' }
  return stringify(doc)
}
