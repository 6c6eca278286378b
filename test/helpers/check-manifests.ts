import { readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { parseConfig } from '../../src/config/load-config.js'
import type { Config } from '../../src/config/schema.js'
import { parseListenAddress } from '../../src/shared/listen-address.js'

// Reads deploy/kubernetes and lists every disagreement between the manifests and the config the
// project's own loader reads from the ConfigMap. Loosely typed on purpose: a manifest is data.
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are walked as plain data
type K8s = any

export type Manifests = Map<string, K8s>

/** Every document of every manifest file, by kind (one object of each kind here). */
export function readManifests(dir: string, files: readonly string[]): Manifests {
  const byKind: Manifests = new Map()
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${f}: ${doc.errors[0]?.message}`)
      const obj = doc.toJS() as K8s
      if (obj?.kind) byKind.set(obj.kind, obj)
    }
  }
  return byKind
}

/** The port of a (validated) listen address, read by the one listen parser. */
function port(listen: string): number {
  return parseListenAddress(listen)?.port ?? Number.NaN
}

/** Every file or socket path a config makes the process read, found by walking the config. */
export function pathsReadBy(config: Config): string[] {
  const out: string[] = []
  const walk = (v: unknown, key: string) => {
    if (typeof v === 'string') {
      if (key === 'socket') out.push(v.replace(/^unix:\/\//, ''))
      else if (/(_file|^path|private_keys|bundles)$/.test(key)) out.push(v)
    } else if (Array.isArray(v)) for (const x of v) walk(x, key)
    else if (v !== null && typeof v === 'object' && key !== 'policy') {
      for (const [k, x] of Object.entries(v)) walk(x, key === 'bundles' ? 'bundles' : k)
    }
  }
  walk(config, '')
  return out
}

export interface Checked {
  readonly problems: string[]
  readonly config: Config | undefined
  /** Probe path and resolved port, for a live check against the admin server. */
  readonly probes: { liveness: string; readiness: string; port: number } | undefined
}

export function checkManifests(m: Manifests): Checked {
  const problems: string[] = []
  const fail = (msg: string) => problems.push(msg)
  const cm = m.get('ConfigMap')
  const dep = m.get('Deployment')
  const svc = m.get('Service')
  if (!cm || !dep || !svc)
    return {
      problems: ['missing ConfigMap/Deployment/Service'],
      config: undefined,
      probes: undefined,
    }
  const spec = dep.spec?.template?.spec ?? {}
  const c = spec.containers?.[0] ?? {}
  const mounts: K8s[] = c.volumeMounts ?? []
  const volumes = new Map<string, K8s>((spec.volumes ?? []).map((v: K8s) => [v.name, v]))
  const mountOf = (path: string) =>
    mounts.find((vm) => path.startsWith(`${String(vm.mountPath).replace(/\/$/, '')}/`))

  // The config file: --config names a file in the ConfigMap's mount.
  const args: string[] = c.args ?? []
  const configPath = args[args.indexOf('--config') + 1]
  if (!args.includes('--config') || configPath === undefined)
    return { problems: ['no --config in args'], config: undefined, probes: undefined }
  const cfgMount = mountOf(configPath)
  const cfgVolume = cfgMount && volumes.get(cfgMount.name)
  if (cfgVolume?.configMap?.name !== cm.metadata?.name)
    fail(`--config ${configPath} is not in the ConfigMap's mount`)
  if (cfgMount && dirname(configPath) !== String(cfgMount.mountPath).replace(/\/$/, ''))
    fail('--config is not directly in the ConfigMap mount')
  if (cfgMount?.subPath !== undefined)
    fail('the ConfigMap is mounted with subPath: updates (hot reload) never arrive')
  const text = cm.data?.[basename(configPath)]
  if (typeof text !== 'string')
    return {
      problems: [...problems, `ConfigMap has no key ${basename(configPath)}`],
      config: undefined,
      probes: undefined,
    }
  const config = parseConfig(text, 'configmap.yaml')

  // Ports.
  const ports = new Map<string, number>((c.ports ?? []).map((p: K8s) => [p.name, p.containerPort]))
  const resolve = (p: unknown) => (typeof p === 'number' ? p : ports.get(String(p)))
  if (ports.get('grpc') !== port(config.listen))
    fail(`container port grpc != listen ${config.listen}`)
  if (config.admin.listen === undefined) fail('the config has no admin server: probes cannot work')
  else if (ports.get('admin') !== port(config.admin.listen))
    fail(`container port admin != admin.listen ${config.admin.listen}`)
  for (const [what, l] of [
    ['listen', config.listen],
    ['admin.listen', config.admin.listen],
  ] as const) {
    if (l !== undefined && /^(127\.|localhost|\[::1\])/.test(l))
      fail(`${what} ${l} is loopback: unreachable from outside the pod`)
  }

  // Probes on the admin server.
  const live = c.livenessProbe?.httpGet
  const ready = c.readinessProbe?.httpGet
  const adminPort = config.admin.listen === undefined ? undefined : port(config.admin.listen)
  if (live?.path !== '/healthz' || resolve(live?.port) !== adminPort)
    fail('liveness probe is not /healthz on the admin port')
  if (ready?.path !== '/readyz' || resolve(ready?.port) !== adminPort)
    fail('readiness probe is not /readyz on the admin port')

  // Every file the config reads is inside a mount, never a subPath (rotation would not arrive).
  for (const path of pathsReadBy(config)) {
    const vm = mountOf(path)
    if (!vm) fail(`${path} (read by the config) is in no volume mount`)
    else if (vm.subPath !== undefined)
      fail(`${path} is mounted with subPath: rotations never arrive`)
    else if (!volumes.has(vm.name)) fail(`mount ${vm.name} has no volume`)
  }
  const socket = config.tls?.workload_api?.socket
  if (
    socket !== undefined &&
    volumes.get(mountOf(socket.replace(/^unix:\/\//, ''))?.name)?.csi?.driver !== 'csi.spiffe.io'
  )
    fail('the Workload API socket is not on the csi.spiffe.io volume')
  const secret = m.get('Secret')
  for (const key of config.runner_tokens?.private_keys ?? []) {
    const vol = volumes.get(mountOf(key)?.name)
    if (vol?.secret?.secretName !== secret?.metadata?.name)
      fail(`${key} is not on the runner-keys Secret volume`)
    else if (!(basename(key) in (secret?.stringData ?? secret?.data ?? {})))
      fail(`the Secret has no ${basename(key)}`)
  }
  if (config.runner_tokens?.generate_if_missing)
    fail('generate_if_missing writes a key: the root file system and mounts are read-only')

  // Drain, replicas, hardening.
  const tgp = spec.terminationGracePeriodSeconds ?? 30
  if (!(tgp > config.shutdown.drain_seconds + config.shutdown.grace_seconds))
    fail(`terminationGracePeriodSeconds ${tgp} <= drain + grace`)
  if (!(dep.spec?.replicas >= 2)) fail('replicas < 2')
  const sc = { ...spec.securityContext, ...c.securityContext }
  if (sc.runAsNonRoot !== true || sc.runAsUser === 0) fail('not runAsNonRoot')
  if (c.securityContext?.readOnlyRootFilesystem !== true) fail('root file system is writable')
  if (c.securityContext?.allowPrivilegeEscalation !== false) fail('privilege escalation allowed')
  if (!c.securityContext?.capabilities?.drop?.includes('ALL')) fail('capabilities not all dropped')
  if (sc.seccompProfile?.type !== 'RuntimeDefault') fail('seccomp is not RuntimeDefault')
  if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
    fail('resources incomplete')

  // The Service reaches the gRPC port of these pods, and says what protocol it is.
  const labels = dep.spec?.template?.metadata?.labels ?? {}
  for (const [k, v] of Object.entries(svc.spec?.selector ?? {}))
    if (labels[k] !== v) fail(`Service selector ${k} does not match the pods`)
  const sp = (svc.spec?.ports ?? []) as K8s[]
  const grpcPort = sp.find((p) => resolve(p.targetPort) === port(config.listen))
  if (!grpcPort) fail('no Service port targets the gRPC listen port')
  else if (grpcPort.appProtocol !== (config.tls === undefined ? 'kubernetes.io/h2c' : 'https'))
    fail(`appProtocol ${grpcPort.appProtocol} does not match the config's TLS`)
  if (adminPort !== undefined && sp.some((p) => resolve(p.targetPort) === adminPort))
    fail('the Service exposes the admin port')
  return {
    problems,
    config,
    probes:
      adminPort === undefined
        ? undefined
        : { liveness: live?.path, readiness: ready?.path, port: adminPort },
  }
}

/** The Envoy bootstrap fields the Kubernetes checks read (envoy/envoy-sds*.yaml). */
export interface EnvoyView {
  readonly file: string
  readonly processorAddress: string
  readonly processorPort: number
  readonly sni: string
  /** The exact URI SAN Envoy requires of the processor. */
  readonly processorSan: string | undefined
  /** The SDS secret Envoy presents to the processor: its own SPIFFE ID (SPIRE names it so). */
  readonly envoySvid: string
  /** The SDS bundle secret: the trust domain's SPIFFE ID, spiffe://<td>. */
  readonly bundle: string
}

export function envoyView(file: string, b: K8s): EnvoyView {
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config
  const ep = hcm.http_filters.find((f: K8s) => f.name === 'envoy.filters.http.ext_proc')
  const name = ep.typed_config.grpc_service.envoy_grpc.cluster_name
  const c = b.static_resources.clusters.find((x: K8s) => x.name === name)
  const sa = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
  const tls = c.transport_socket.typed_config
  const ctx = tls.common_tls_context
  const sans = ctx.combined_validation_context?.default_validation_context
    ?.match_typed_subject_alt_names as K8s[] | undefined
  return {
    file,
    processorAddress: sa.address,
    processorPort: sa.port_value,
    sni: tls.sni,
    processorSan: sans?.find((s) => s.san_type === 'URI')?.matcher?.exact,
    envoySvid: ctx.tls_certificate_sds_secret_configs?.[0]?.name,
    bundle: ctx.combined_validation_context?.validation_context_sds_secret_config?.name,
  }
}

const NS_SA = /^spiffe:\/\/[a-z0-9._-]+\/ns\/[a-z0-9-]+\/sa\/[a-z0-9.-]+$/

/**
 * Envoy's processor cluster against the manifests: it reaches the headless Service by FQDN (as
 * address and SNI) on its port, pins the SPIFFE ID SPIRE issues the processor's pods
 * (spiffe://<td>/ns/<namespace>/sa/<service account>), and presents an SVID the processor's
 * allowed_peers admit; every SPIFFE ID there is in the same ns/sa form.
 */
export function checkEnvoyAgainstManifests(m: Manifests, envoy: EnvoyView): string[] {
  const problems: string[] = []
  const fail = (msg: string) => problems.push(`${envoy.file}: ${msg}`)
  const svc = m.get('Service')
  const dep = m.get('Deployment')
  const cm = m.get('ConfigMap')
  const namespaces = new Set([...m.values()].map((o) => o.metadata?.namespace))
  if (namespaces.size !== 1 || namespaces.has(undefined))
    fail(`the manifests do not share one namespace: ${[...namespaces].join(', ')}`)
  const ns = svc?.metadata?.namespace
  const fqdn = `${svc?.metadata?.name}.${ns}.svc.cluster.local`
  if (envoy.processorAddress !== fqdn)
    fail(`processor address ${envoy.processorAddress} is not the Service FQDN ${fqdn}`)
  if (envoy.sni !== fqdn) fail(`SNI ${envoy.sni} is not the Service FQDN ${fqdn}`)
  if (svc?.spec?.clusterIP !== 'None') fail('the Service is not headless: STRICT_DNS sees one IP')
  const ports = (svc?.spec?.ports ?? []) as K8s[]
  if (!ports.some((p) => p.port === envoy.processorPort))
    fail(`port ${envoy.processorPort} is no port of the Service`)
  const td = envoy.bundle?.replace(/^spiffe:\/\//, '')
  const sa = dep?.spec?.template?.spec?.serviceAccountName
  const processorId = `spiffe://${td}/ns/${ns}/sa/${sa}`
  if (envoy.processorSan !== processorId)
    fail(`Envoy pins ${envoy.processorSan}, but SPIRE issues the pods ${processorId}`)
  const text = cm?.data?.['config.yaml']
  const config = typeof text === 'string' ? parseConfig(text, 'configmap.yaml') : undefined
  const allowed = config?.tls?.allowed_peers ?? []
  if (!allowed.includes(envoy.envoySvid))
    fail(`the processor's allowed_peers [${allowed.join(', ')}] do not admit ${envoy.envoySvid}`)
  for (const id of [...allowed, envoy.envoySvid, envoy.processorSan ?? ''])
    if (!NS_SA.test(id) || !id.startsWith(`spiffe://${td}/`))
      fail(`${id} is not a SPIRE ns/<namespace>/sa/<service account> ID of ${td}`)
  return problems
}
