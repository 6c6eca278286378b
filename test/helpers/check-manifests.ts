import { readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { parseConfig } from '../../src/config/load-config.js'
import type { Config } from '../../src/config/schema.js'

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

function port(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1))
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
