import { type ChildProcess, spawn } from 'node:child_process'
import { openSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse, stringify } from 'yaml'

// Runs a shipped SDS Envoy config on loopback: the overlay changes only addresses, ports and the
// two directories the files live in (where the SDS resources are, where the certificates are);
// every TLS, ext_proc and SAN setting is the shipped file's.

/** Where envoy/sds-path/envoy-sds-path.yaml expects its SDS resources, and they the certificates. */
export const SHIPPED_SDS_DIR = '/etc/envoy/sds'
export const SHIPPED_CERT_DIR = '/etc/extproc-authz/certs'

type Node = Record<string, unknown>
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Rewrites every string value under `from/` (paths) to `to/`, and `from` itself to `to`. */
function rewritePaths(node: unknown, from: string, to: string): void {
  if (Array.isArray(node)) for (const v of node) rewritePaths(v, from, to)
  else if (isNode(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v === 'string' && (v === from || v.startsWith(`${from}/`))) {
        node[k] = `${to}${v.slice(from.length)}`
      } else rewritePaths(v, from, to)
    }
  }
}

/** An SDS resource file (envoy/sds-path/*.sds.yaml) reading its certificates from `certDir`. */
export function overlaySdsResource(text: string, certDir: string): string {
  const doc = parse(text) as unknown
  rewritePaths(doc, SHIPPED_CERT_DIR, certDir)
  return stringify(doc)
}

export interface SdsOverlay {
  readonly sdsDir: string
  /**
   * Also rewrite listeners to 127.0.0.1:0, admin to port 0, and each cluster's endpoints to
   * 127.0.0.1 on the port given for that cluster (every socket-address cluster must be given).
   */
  readonly loopback?: { readonly ports: Readonly<Record<string, number>> }
}

/** The shipped bootstrap with its SDS directory moved (and, for a run, loopback addresses). */
export function overlaySdsBootstrap(text: string, o: SdsOverlay): string {
  const doc = parse(text) as Node
  rewritePaths(doc, SHIPPED_SDS_DIR, o.sdsDir)
  if (o.loopback !== undefined) {
    const admin = ((doc.admin as Node).address as Node).socket_address as Node
    if (admin.address !== '127.0.0.1') throw new Error('the shipped admin is not on loopback')
    admin.port_value = 0
    const res = doc.static_resources as { listeners: Node[]; clusters: Node[] }
    for (const l of res.listeners) {
      const sa = (l.address as Node).socket_address as Node
      sa.address = '127.0.0.1'
      sa.port_value = 0
    }
    // Cluster endpoints (the processor, the application) to loopback ports; a pipe stays.
    for (const c of res.clusters) {
      for (const e of (c.load_assignment as { endpoints: Node[] }).endpoints) {
        for (const lb of e.lb_endpoints as Node[]) {
          const sa = ((lb.endpoint as Node).address as Node).socket_address
          if (!isNode(sa)) continue
          const port = o.loopback.ports[String(c.name)]
          if (port === undefined) throw new Error(`no loopback port for cluster ${c.name}`)
          sa.address = '127.0.0.1'
          sa.port_value = port
        }
      }
    }
  }
  return stringify(doc)
}

/** Polls `probe` until it returns a value other than undefined, or throws after `ms`. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`)
    }
    await sleep(50)
  }
}

/** The health flags Envoy's admin /clusters reports for each host of `cluster`. */
export async function hostHealth(admin: string, cluster: string): Promise<string[]> {
  const text = await (await fetch(`http://${admin}/clusters`)).text()
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${cluster}::`) && l.includes('::health_flags::'))
    .map((l) => l.slice(l.lastIndexOf('::') + 2))
}

export interface RunningEnvoy {
  /** host:port of the admin interface, as Envoy wrote it. */
  readonly admin: string
  readonly listenerPort: number
  readonly logFile: string
  /** Counter or gauge values from /stats whose names match `pattern`, summed. */
  stat(pattern: RegExp): Promise<number>
  stop(): Promise<void>
}

/** Starts Envoy on `configFile`, its output in DIR/envoy.log, and waits for its listener. */
export async function startEnvoy(
  bin: string,
  configFile: string,
  dir: string,
): Promise<RunningEnvoy> {
  const logFile = join(dir, 'envoy.log')
  const adminFile = join(dir, 'admin-address')
  const out = openSync(logFile, 'a')
  const child: ChildProcess = spawn(
    bin,
    [
      '-c',
      configFile,
      '--admin-address-path',
      adminFile,
      '--disable-hot-restart',
      '--concurrency',
      '1',
      '-l',
      'info',
    ],
    { stdio: ['ignore', out, out] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let exitedEarly = false
  void exited.then(() => {
    exitedEarly = true
  })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  try {
    const admin = await until('the admin address file', 30_000, async () => {
      if (exitedEarly) throw new Error(`envoy exited: ${readFileSync(logFile, 'utf8')}`)
      const text = (await readFile(adminFile, 'utf8').catch(() => '')).trim()
      return text === '' ? undefined : text
    })
    const listenerPort = await until('a bound listener', 30_000, async () => {
      const r = await fetch(`http://${admin}/listeners?format=json`)
      const body = (await r.json()) as {
        listener_statuses?: Array<{ local_address?: { socket_address?: { port_value?: number } } }>
      }
      const port = body.listener_statuses?.[0]?.local_address?.socket_address?.port_value
      return port === undefined || port === 0 ? undefined : port
    })
    return {
      admin,
      listenerPort,
      logFile,
      async stat(pattern) {
        const text = await (await fetch(`http://${admin}/stats`)).text()
        let sum = 0
        for (const line of text.split('\n')) {
          const i = line.lastIndexOf(': ')
          if (i > 0 && pattern.test(line.slice(0, i))) sum += Number(line.slice(i + 2)) || 0
        }
        return sum
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
