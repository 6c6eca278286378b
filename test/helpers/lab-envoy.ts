import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { type ComposeFile, hostPath, service } from './lab-files.js'

// The parts of the lab's Envoy bootstrap the consistency test compares with the compose file
// and the processor config. Only the fields read here are typed.

interface SocketAddress {
  readonly address: string
  readonly port_value: number
}

interface TlsContext {
  readonly sni?: string
  readonly common_tls_context: {
    readonly tls_certificates: ReadonlyArray<{ readonly certificate_chain: { filename: string } }>
    readonly validation_context?: {
      readonly match_typed_subject_alt_names?: ReadonlyArray<{
        readonly matcher: { readonly exact?: string }
      }>
    }
  }
}

export interface Cluster {
  readonly name: string
  readonly connect_timeout: string
  readonly typed_extension_protocol_options?: Record<
    string,
    { explicit_http_config?: { http2_protocol_options?: unknown } }
  >
  readonly load_assignment: {
    readonly endpoints: ReadonlyArray<{
      readonly lb_endpoints: ReadonlyArray<{
        readonly endpoint: { readonly address: { readonly socket_address: SocketAddress } }
      }>
    }>
  }
  readonly health_checks?: ReadonlyArray<{ readonly grpc_health_check?: unknown }>
  readonly transport_socket?: { readonly typed_config: TlsContext }
}

interface ExtProc {
  readonly grpc_service: { readonly envoy_grpc: { readonly cluster_name: string } }
  readonly failure_mode_allow: boolean
  readonly message_timeout: string
  readonly processing_mode: { readonly response_header_mode: string }
}

interface Listener {
  readonly address: { readonly socket_address: SocketAddress }
  readonly filter_chains: ReadonlyArray<{
    readonly transport_socket: { readonly typed_config: TlsContext }
    readonly filters: ReadonlyArray<{
      readonly typed_config: {
        readonly route_config: {
          readonly virtual_hosts: ReadonlyArray<{
            readonly routes: ReadonlyArray<{ readonly route: { readonly cluster: string } }>
          }>
        }
        readonly http_filters: ReadonlyArray<{
          readonly name: string
          readonly typed_config: unknown
        }>
      }
    }>
  }>
}

export interface EnvoyBootstrap {
  readonly raw: {
    readonly static_resources: {
      readonly listeners: readonly Listener[]
      readonly clusters: readonly Cluster[]
    }
  }
  readonly hostFile: string
  extProc(): ExtProc
  cluster(name: string): Cluster
  endpoint(c: Cluster): SocketAddress
  isHttp2(c: Cluster): boolean
  seconds(duration: string): number
  routeCluster(): string
  listenerPort(): number
  listenerCertFile(): string
  upstreamTls(c: Cluster): { certFile: string; exactSan: string | undefined; sni: string }
  /** Every `filename:` in the bootstrap (certificates, keys, bundles). */
  filenames(): string[]
}

function collectFilenames(node: unknown, out: string[]): string[] {
  if (Array.isArray(node)) for (const v of node) collectFilenames(v, out)
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'filename' && typeof v === 'string') out.push(v)
      else collectFilenames(v, out)
    }
  }
  return out
}

/** The bootstrap the compose `envoy` service runs (its `-c` argument, through its mounts). */
export function envoyLab(compose: ComposeFile): EnvoyBootstrap {
  const svc = service(compose, 'envoy')
  const args = svc.command ?? []
  const configPath = args[args.indexOf('-c') + 1]
  if (configPath === undefined) throw new Error('the envoy service has no -c argument')
  const hostFile = hostPath(svc, configPath, {})
  const raw = parse(readFileSync(hostFile, 'utf8')) as EnvoyBootstrap['raw']
  const listener = raw.static_resources.listeners[0] as Listener
  const chain = listener.filter_chains[0] as Listener['filter_chains'][number]
  const hcm = (chain.filters[0] as Listener['filter_chains'][number]['filters'][number])
    .typed_config
  const self: EnvoyBootstrap = {
    raw,
    hostFile,
    extProc() {
      const f = hcm.http_filters.find((x) => x.name === 'envoy.filters.http.ext_proc')
      if (f === undefined) throw new Error('no ext_proc filter')
      return f.typed_config as ExtProc
    },
    cluster(name) {
      const c = raw.static_resources.clusters.find((x) => x.name === name)
      if (c === undefined) throw new Error(`no cluster ${name}`)
      return c
    },
    endpoint(c) {
      const eps = c.load_assignment.endpoints.flatMap((e) => e.lb_endpoints)
      if (eps.length !== 1) throw new Error(`${c.name}: expected one endpoint`)
      const { address, port_value } = (eps[0] as (typeof eps)[number]).endpoint.address
        .socket_address
      return { address, port_value }
    },
    isHttp2(c) {
      const opts = Object.values(c.typed_extension_protocol_options ?? {})
      return opts.some((o) => o.explicit_http_config?.http2_protocol_options !== undefined)
    },
    seconds(d) {
      const m = /^(\d+(?:\.\d+)?)s$/.exec(d)
      if (m === null) throw new Error(`not a duration: ${d}`)
      return Number(m[1])
    },
    routeCluster() {
      const routes = hcm.route_config.virtual_hosts.flatMap((v) => v.routes)
      const names = [...new Set(routes.map((r) => r.route.cluster))]
      if (names.length !== 1) throw new Error(`expected one route cluster, found ${names}`)
      return names[0] as string
    },
    listenerPort: () => listener.address.socket_address.port_value,
    listenerCertFile() {
      const cert = chain.transport_socket.typed_config.common_tls_context.tls_certificates[0]
      if (cert === undefined) throw new Error('the listener has no certificate')
      return cert.certificate_chain.filename
    },
    upstreamTls(c) {
      const tls = c.transport_socket?.typed_config
      const cert = tls?.common_tls_context.tls_certificates[0]
      if (tls === undefined || cert === undefined) throw new Error(`${c.name}: no client cert`)
      const sans = tls.common_tls_context.validation_context?.match_typed_subject_alt_names
      return {
        certFile: cert.certificate_chain.filename,
        exactSan: sans?.[0]?.matcher.exact,
        sni: tls.sni ?? '',
      }
    },
    filenames: () => collectFilenames(raw, []),
  }
  return self
}
