import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startUpstream, type Upstream } from '../upstream.js'
import {
  type CircuitBreakerThresholds,
  type HostPort,
  overlayEnvoyConfig,
  overlayProcessorConfig,
} from './overlay.js'
import { freePort, Proc } from './processes.js'

// The lab without Docker: the pinned Envoy on a shipped envoy/*.yaml, one or more processors
// from dist/ on lab/config.yaml, and the counting upstream, all on 127.0.0.1, with the PKI and
// runner key made by the project's own `certs generate` and `keys generate`. The configs go
// through overlay.ts and nothing else.

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface LocalLabOptions {
  readonly envoyBin: string
  /** A fresh directory for certificates, keys, rendered configs and logs. */
  readonly dir: string
  /** A file under envoy/ (default envoy.yaml). */
  readonly envoyConfig?: string
  /** The processor config (default lab/config.yaml), as YAML text. */
  readonly processorConfigText?: string
  /** Processors behind the processor cluster (default 1). */
  readonly processors?: number
  readonly processorCircuitBreakers?: CircuitBreakerThresholds
  /** Which certificate a processor serves (default processor.pem): the Envoy SAN check case. */
  readonly processorCert?: 'processor' | 'client'
  /**
   * Runs something else in a processor's place (tests of Envoy's own behaviour): the node
   * arguments for a processor config file. It must print a JSON line whose msg ends in "serving".
   */
  readonly processorCommand?: (configFile: string) => readonly string[]
  /** The program processorCommand's arguments are given to (default: this Node). */
  readonly processorExecutable?: string
  /** An Envoy bootstrap as YAML text, instead of a file under envoy/ (benchmark variants). */
  readonly envoyConfigText?: string
  /** Envoy worker threads (default 1: two cores are shared with the processors and clients). */
  readonly envoyConcurrency?: number
}

export interface LabProcessor {
  readonly index: number
  readonly port: number
  readonly configFile: string
  readonly proc: Proc
}

const START_MS = 60_000

export class LocalLab {
  readonly certDir: string
  readonly keyDir: string
  readonly processors: LabProcessor[] = []
  envoy!: Proc
  upstream!: Upstream
  envoyPort = 0
  envoyAdmin = ''

  private constructor(private readonly opts: LocalLabOptions) {
    this.certDir = join(opts.dir, 'certs')
    this.keyDir = join(opts.dir, 'keys')
  }

  static async start(opts: LocalLabOptions): Promise<LocalLab> {
    const lab = new LocalLab(opts)
    try {
      await lab.boot()
    } catch (err) {
      await lab.close()
      throw err
    }
    return lab
  }

  /** Runs the project's CLI (dist/) and returns its stdout. */
  cli(args: readonly string[]): string {
    return execFileSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' })
  }

  file(name: string): string {
    return readFileSync(join(this.certDir, name), 'utf8')
  }

  private async boot(): Promise<void> {
    const { dir } = this.opts
    mkdirSync(dir, { recursive: true })
    this.cli(['certs', 'generate', '--out', this.certDir])
    this.cli(['keys', 'generate', '--out', this.keyDir, '--bits', '2048'])
    this.upstream = await startUpstream({ trafficPort: 0, controlPort: 0 })
    const text =
      this.opts.processorConfigText ?? readFileSync(join(REPO_ROOT, 'lab', 'config.yaml'), 'utf8')
    const certDir =
      this.opts.processorCert === 'client' ? join(dir, 'certs-as-client') : this.certDir
    if (this.opts.processorCert === 'client') {
      // The processor serves the runner's SVID instead of its own: Envoy must refuse it.
      mkdirSync(certDir, { recursive: true })
      for (const f of ['bundle.pem', 'envoy.pem', 'envoy-key.pem']) {
        writeFileSync(join(certDir, f), this.file(f))
      }
      writeFileSync(join(certDir, 'processor.pem'), this.file('client.pem'))
      writeFileSync(join(certDir, 'processor-key.pem'), this.file('client-key.pem'), {
        mode: 0o600,
      })
    }
    const hosts: HostPort[] = []
    // The processor watches its config file's directory and reloads on any change there: keep
    // it apart from the logs, which change with every request (a reload every 200 ms).
    const configDir = join(dir, 'processor-config')
    mkdirSync(configDir, { recursive: true })
    for (let i = 0; i < (this.opts.processors ?? 1); i++) {
      const port = await freePort()
      const configFile = join(configDir, `processor-${i}.yaml`)
      writeFileSync(
        configFile,
        overlayProcessorConfig(text, {
          certDir,
          keyDir: this.keyDir,
          listen: { host: '127.0.0.1', port },
        }),
      )
      const args = this.opts.processorCommand?.(configFile) ?? [
        MAIN,
        'serve',
        '--config',
        configFile,
      ]
      const proc = new Proc(
        `processor-${i}`,
        this.opts.processorExecutable ?? process.execPath,
        args,
        join(dir, `processor-${i}.log`),
      )
      const p: LabProcessor = {
        index: i,
        port,
        configFile,
        proc,
      }
      this.processors.push(p)
      hosts.push({ host: '127.0.0.1', port })
      await this.startProcessor(p)
    }
    const envoyFile = join(dir, 'envoy.yaml')
    writeFileSync(
      envoyFile,
      overlayEnvoyConfig(
        this.opts.envoyConfigText ??
          readFileSync(join(REPO_ROOT, 'envoy', this.opts.envoyConfig ?? 'envoy.yaml'), 'utf8'),
        {
          certDir: this.certDir,
          listenerPort: 0,
          adminPort: 0,
          processors: hosts,
          upstream: { host: '127.0.0.1', port: this.upstream.trafficPort },
          ...(this.opts.processorCircuitBreakers === undefined
            ? {}
            : { processorCircuitBreakers: this.opts.processorCircuitBreakers }),
        },
      ),
    )
    const adminPath = join(dir, 'envoy-admin.txt')
    this.envoy = new Proc(
      'envoy',
      this.opts.envoyBin,
      [
        '-c',
        envoyFile,
        '--disable-hot-restart',
        '--concurrency',
        String(this.opts.envoyConcurrency ?? 1),
        '--admin-address-path',
        adminPath,
        '--log-level',
        'info',
        '--log-path',
        join(dir, 'envoy.log'),
        // Access-log lines reach the file within 50 ms (Envoy's default is 10 s): the tests
        // read %RESPONSE_CODE_DETAILS% from them. A command-line setting, not a config change.
        '--file-flush-interval-msec',
        '50',
      ],
      join(dir, 'envoy-access.log'),
    )
    this.envoy.spawn()
    const deadline = Date.now() + START_MS
    for (;;) {
      try {
        this.envoyAdmin = readFileSync(adminPath, 'utf8').trim()
        const ready = await fetch(`http://${this.envoyAdmin}/ready`)
        if (ready.ok) break
      } catch {
        // not up yet
      }
      if (!this.envoy.running)
        throw new Error(
          `envoy exited: ${readFileSync(join(dir, 'envoy.log'), 'utf8').slice(-3000)}`,
        )
      if (Date.now() > deadline) throw new Error('envoy did not become ready')
      await sleep(50)
    }
    const listeners = (await (
      await fetch(`http://${this.envoyAdmin}/listeners?format=json`)
    ).json()) as {
      listener_statuses: Array<{
        local_address: { socket_address: { address: string; port_value: number } }
      }>
    }
    const first = listeners.listener_statuses[0]
    if (first === undefined) throw new Error('envoy has no listener')
    this.envoyPort = first.local_address.socket_address.port_value
  }

  /** Starts (or restarts) a processor and waits for its "serving" line. */
  async startProcessor(p: LabProcessor): Promise<void> {
    const from = p.proc.mark()
    p.proc.spawn()
    await p.proc.waitFor(/"msg":"[^"\n]*serving"/, START_MS, from)
  }

  /** A processor by index (default the first). */
  processor(i = 0): LabProcessor {
    const p = this.processors[i]
    if (p === undefined) throw new Error(`no processor ${i}`)
    return p
  }

  /** Envoy's admin: GET a path, as text. */
  async admin(path: string): Promise<string> {
    return (await fetch(`http://${this.envoyAdmin}${path}`)).text()
  }

  /** Envoy's counters and gauges whose names match `filter` (a regex), by name. */
  async stats(filter: string): Promise<Record<string, number>> {
    const text = await this.admin(`/stats?filter=${encodeURIComponent(filter)}`)
    const out: Record<string, number> = {}
    for (const m of text.matchAll(/^([^:\n]+): (\d+)$/gm)) out[m[1] as string] = Number(m[2])
    return out
  }

  /** Envoy's access-log lines (JSON) written after `from` (a position from envoy.mark()). */
  accessLog(from = 0): Array<Record<string, unknown>> {
    return this.envoy
      .since(from)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  /**
   * Waits for the access-log line of one request: the first line after `from` that `match`
   * accepts. Envoy logs the path after normalisation, and no path at all for requests its codec
   * refused, so tests match on a nonce in the query or take the next line.
   */
  async accessLogLine(
    match: (entry: Record<string, unknown>) => boolean,
    from = 0,
    ms = 10_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = this.accessLog(from).find(match)
      if (hit !== undefined) return hit
      if (Date.now() > deadline) throw new Error(`no matching access-log line within ${ms} ms`)
      await sleep(20)
    }
  }

  async close(): Promise<void> {
    await this.envoy?.stop()
    this.envoy?.closeLog()
    await Promise.all(this.processors.map((p) => p.proc.stop()))
    for (const p of this.processors) p.proc.closeLog()
    await this.upstream?.close()
  }
}
