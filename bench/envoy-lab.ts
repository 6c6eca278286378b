import { execFile, spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse, stringify } from 'yaml'
import { LocalLab, REPO_ROOT } from '../lab/local/lab.js'
import { treeCpuSeconds } from './proc-cpu.js'

// One processor behind the pinned Envoy on the shipped envoy/envoy.yaml (lab/local): Envoy and
// the processor share CPU 0, the load generator (and this process, which runs the counting
// upstream) CPU 1. Each run reads CPU seconds from /proc for Envoy and the processor apart, and
// the ext_proc latency Envoy itself logs for every request (ext_proc_us in the access log).

const MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')
export const SERVER_CPU = '0'
export const CLIENT_CPU = '1'
export const HAS_TASKSET = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0

/** What answers Envoy's ext_proc stream (or nothing: the filter removed). */
export type ProcessorKind =
  | { readonly kind: 'none'; readonly goPeer: string }
  | { readonly kind: 'go'; readonly mode: 'noop' | 'spiffe'; readonly goPeer: string }
  | { readonly kind: 'authz'; readonly node: string }

/** envoy/envoy.yaml without its ext_proc filter: what Envoy alone costs (never shipped). */
export function withoutExtProc(text: string): string {
  const doc = parse(text) as {
    static_resources: {
      listeners: Array<{
        filter_chains: Array<{
          filters: Array<{ typed_config: { http_filters?: Array<{ name: string }> } }>
        }>
      }>
    }
  }
  let removed = 0
  for (const l of doc.static_resources.listeners) {
    for (const chain of l.filter_chains) {
      for (const f of chain.filters) {
        const hf = f.typed_config.http_filters
        if (hf === undefined) continue
        const kept = hf.filter((x) => x.name !== 'envoy.filters.http.ext_proc')
        removed += hf.length - kept.length
        f.typed_config.http_filters = kept
      }
    }
  }
  if (removed === 0) throw new Error('envoy.yaml has no ext_proc filter to remove')
  return stringify(doc)
}

/**
 * The processor config: lab/config.yaml, with the `api` rule's exact ID turned into the prefix
 * the Go SPIFFE peer checks (spiffe://example.org/ns/ci), so both make the same decision.
 */
export function benchProcessorConfig(): string {
  const doc = parse(readFileSync(join(REPO_ROOT, 'lab', 'config.yaml'), 'utf8')) as {
    policy: { rules: Array<{ name: string; any_of?: unknown[] }> }
  }
  const api = doc.policy.rules.find((r) => r.name === 'api')
  if (api === undefined) throw new Error('lab/config.yaml has no api rule')
  api.any_of = [{ spiffe: { prefixes: ['spiffe://example.org/ns/ci'] } }]
  // As examples/config.yaml ships it: 1% of allows logged (every deny). The lab pipes the
  // processor's stdout into this process; a log line per request would measure that pipe.
  const logging = (doc as { logging?: Record<string, unknown> }).logging ?? {}
  ;(doc as { logging?: Record<string, unknown> }).logging = {
    ...logging,
    decisions: { allow_level: 'info', deny_level: 'warn', sample_allow: 0.01, sample_deny: 1 },
  }
  return stringify(doc)
}

function pin(pid: number | undefined, cpus: string): void {
  if (pid === undefined || !HAS_TASKSET) return
  // -a: every thread, present ones included (Envoy's workers, Node's libuv pool).
  spawnSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' })
}

export interface AccessLogStats {
  /** Requests Envoy logged during the whole run (warm-up included): the CPU divisor. */
  readonly logged: number
  /** ext_proc_us over the measured window, microseconds (undefined without the filter). */
  readonly extProcP50?: number
  readonly extProcP99?: number
}

export interface RunCpu {
  readonly envoyS: number
  readonly processorS: number
}

export class EnvoyBench {
  private constructor(
    readonly name: string,
    readonly lab: LocalLab,
    private readonly accessLogFile: string,
  ) {}

  static async start(name: string, p: ProcessorKind, envoyBin: string, dir: string) {
    const shipped = readFileSync(join(REPO_ROOT, 'envoy', 'envoy.yaml'), 'utf8')
    const lab = await LocalLab.start({
      envoyBin,
      dir,
      envoyConfigText: p.kind === 'none' ? withoutExtProc(shipped) : shipped,
      processorConfigText: benchProcessorConfig(),
      processorExecutable: p.kind === 'authz' ? p.node : p.goPeer,
      processorCommand: (configFile) => {
        if (p.kind === 'authz') return [MAIN, 'serve', '--config', configFile]
        // The Go peer takes the same listen address and certificates as flags.
        const c = parse(readFileSync(configFile, 'utf8')) as {
          listen: string
          tls: { cert_file: string; key_file: string; bundles: Record<string, string> }
        }
        return [
          '-mode',
          p.kind === 'go' ? p.mode : 'noop',
          '-listen',
          c.listen,
          '-cert',
          c.tls.cert_file,
          '-key',
          c.tls.key_file,
          '-ca',
          c.tls.bundles['example.org'] ?? '',
        ]
      },
    })
    pin(lab.envoy.pid, SERVER_CPU)
    pin(lab.processor().proc.pid, SERVER_CPU)
    return new EnvoyBench(name, lab, join(dir, 'envoy-access.log'))
  }

  /**
   * Restarts the processor if it exited (a crash under load is a finding, recorded with the
   * run; the benchmark goes on). Returns the tail of its log when it had to.
   */
  async restartIfExited(): Promise<string | undefined> {
    const p = this.lab.processor()
    if (p.proc.running) return undefined
    const tail = p.proc.since().slice(-1500)
    await this.lab.startProcessor(p)
    pin(p.proc.pid, SERVER_CPU)
    return tail
  }

  get port(): number {
    return this.lab.envoyPort
  }

  cpu(): RunCpu {
    return {
      envoyS: treeCpuSeconds(this.lab.envoy.pid ?? -1),
      processorS: treeCpuSeconds(this.lab.processor().proc.pid ?? -1),
    }
  }

  logOffset(): number {
    return statSync(this.accessLogFile).size
  }

  /** Access-log lines written since `offset`; the ext_proc latency of those in [from, to). */
  accessLogSince(offset: number, fromMs: number, toMs: number): AccessLogStats {
    const text = readFileSync(this.accessLogFile).subarray(offset).toString('utf8')
    let logged = 0
    const us: number[] = []
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue
      let e: { start_time?: string; ext_proc_us?: unknown }
      try {
        e = JSON.parse(line) as typeof e
      } catch {
        continue
      }
      logged++
      const t = Date.parse(e.start_time ?? '')
      const v = Number(e.ext_proc_us)
      if (t >= fromMs && t < toMs && Number.isFinite(v) && e.ext_proc_us !== null) us.push(v)
    }
    us.sort((a, b) => a - b)
    const q = (p: number) => us[Math.floor(p * (us.length - 1))]
    return {
      logged,
      ...(us.length > 0 ? { extProcP50: q(0.5), extProcP99: q(0.99) } : {}),
    }
  }

  /** The runner token's public key (RSA-2048, keys generate in the lab). */
  publicKeyFile(): string {
    return join(this.lab.keyDir, 'public.pem')
  }

  async close(): Promise<void> {
    await this.lab.close()
  }
}

export interface LoadResult {
  readonly offered: number
  readonly rate: number
  readonly requests: number
  readonly errors: number
  readonly dropped: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly statuses: Record<string, number>
}

/** The Go load generator against Envoy's mTLS listener, pinned to CLIENT_CPU. */
export async function goLoad(o: {
  loadgen: string
  bench: EnvoyBench
  path: string
  rate?: number
  concurrency?: number
  durationS: number
  warmupS: number
  tokensFile?: string
  headers?: readonly string[]
}): Promise<{ result: LoadResult; command: string }> {
  const certs = o.bench.lab.certDir
  const args = [
    '-url',
    `https://127.0.0.1:${o.bench.port}${o.path}`,
    '-server-name',
    'localhost',
    '-cert',
    join(certs, 'client.pem'),
    '-key',
    join(certs, 'client-key.pem'),
    '-ca',
    join(certs, 'bundle.pem'),
    '-connections',
    '2',
    '-rate',
    String(o.rate ?? 0),
    '-concurrency',
    String(o.concurrency ?? 64),
    '-duration',
    `${o.durationS}s`,
    '-warmup',
    `${o.warmupS}s`,
    ...(o.tokensFile === undefined ? [] : ['-tokens', o.tokensFile]),
    ...(o.headers ?? []).flatMap((h) => ['-H', h]),
  ]
  const [cmd, full] = HAS_TASKSET
    ? ['taskset', ['-c', CLIENT_CPU, o.loadgen, ...args]]
    : [o.loadgen, args]
  const { stdout } = await promisify(execFile)(cmd, full, {
    timeout: (o.durationS + o.warmupS + 60) * 1000,
    maxBuffer: 1 << 20,
  })
  return {
    result: JSON.parse(stdout) as LoadResult,
    command: `${cmd} ${full.join(' ')}`.replaceAll(certs, '$CERTS'),
  }
}
