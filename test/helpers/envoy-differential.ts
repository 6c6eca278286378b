import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { checkBootstrap, isStructural } from '../../src/envoy-check/check-bootstrap.js'
import type { Finding } from '../../src/envoy-check/findings.js'
import { parseBootstrap, UnreadableBootstrap } from '../../src/envoy-check/read-bootstrap.js'
import { envoyBin } from './envoy.js'

// `envoy --mode validate` against check-envoy on the same document. Certificate and SDS paths
// are pointed at real files first (made by `extproc-authz certs generate`), so that Envoy's
// verdict is about the config, not about files missing on this machine.

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

type Json = Record<string, unknown>

export interface RealFiles {
  readonly dir: string
  readonly cert: string
  readonly key: string
  readonly bundle: string
  readonly svidSds: string
  readonly bundleSds: string
}

/** Certificates from the project's own generator, and SDS files that serve them. */
export function makeRealFiles(dir: string): RealFiles {
  const certs = join(dir, 'certs')
  const r = spawnSync(process.execPath, [MAIN, 'certs', 'generate', '--out', certs], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`certs generate failed: ${r.stderr}`)
  const files = {
    dir,
    cert: join(certs, 'envoy.pem'),
    key: join(certs, 'envoy-key.pem'),
    bundle: join(certs, 'bundle.pem'),
    svidSds: join(dir, 'svid-sds.yaml'),
    bundleSds: join(dir, 'bundle-sds.yaml'),
  }
  const secret = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret'
  // Every secret name a config may ask for, in both files: Envoy only reads the one it names.
  const names = ['envoy_svid', 'bundle', 'spiffe://example.org/envoy', 'spiffe://example.org']
  const resources = names.flatMap((name) => [
    {
      '@type': secret,
      name,
      tls_certificate: {
        certificate_chain: { filename: files.cert },
        private_key: { filename: files.key },
      },
    },
  ])
  const bundles = names.map((name) => ({
    '@type': secret,
    name,
    validation_context: { trusted_ca: { filename: files.bundle } },
  }))
  writeFileSync(files.svidSds, stringify({ resources }))
  writeFileSync(files.bundleSds, stringify({ resources: bundles }))
  return files
}

/** A copy of `value` whose certificate files and SDS paths exist on this machine. */
export function withRealFiles(value: unknown, files: RealFiles): unknown {
  if (Array.isArray(value)) return value.map((v) => withRealFiles(v, files))
  if (value === null || typeof value !== 'object') return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value as Json)) {
    // Any non-empty file name (a mutation's " " too): what the file holds is not check-envoy's
    // to judge. An empty one stays, for the validate rule (min_len 1) that refuses it.
    if (k === 'filename' && typeof v === 'string' && v !== '') {
      out[k] = v.includes('key') ? files.key : v.includes('bundle') ? files.bundle : files.cert
    } else if (k === 'path_config_source' && v !== null && typeof v === 'object') {
      const path = (v as Json).path
      const real =
        typeof path === 'string' && path.includes('bundle') ? files.bundleSds : files.svidSds
      out[k] = { ...(v as Json), ...(typeof path === 'string' ? { path: real } : {}) }
    } else out[k] = withRealFiles(v, files)
  }
  return out
}

export interface Verdicts {
  readonly envoyOk: boolean
  readonly envoyOutput: string
  readonly findings: Finding[]
}

/** Envoy's first error line, without the log prefix. */
export function envoyReason(output: string): string {
  const line = output.split('\n').find((l) => /critical|error initializing/.test(l)) ?? output
  return line.replace(/^.*?error initializing configuration '[^']*': /, '').slice(0, 300)
}

/** Envoy's refusal is about files on disk, not the config (excluded from the comparison). */
export function isFileRefusal(output: string): boolean {
  if (/certificate chain not set/.test(output)) return false // a config error, not a file
  return /Failed to load [^\n]* from |does not exist|paths must refer to an existing path|Invalid path:/i.test(
    output,
  )
}

function runEnvoy(file: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(envoyBin(), ['--mode', 'validate', '-c', file, '-l', 'critical'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ ok: code === 0, output })
    })
  })
}

/** Both verdicts on one document, written as YAML for Envoy. */
export async function verdicts(value: unknown, file: string, files: RealFiles): Promise<Verdicts> {
  mkdirSync(join(file, '..'), { recursive: true })
  const text = value === undefined ? '' : stringify(withRealFiles(value, files))
  writeFileSync(file, text)
  const envoy = await runEnvoy(file)
  // check-envoy reads the very file Envoy read (YAML 1.1 booleans and all).
  let parsed: unknown
  try {
    parsed = parseBootstrap(text, 'yaml', file).value
  } catch (err) {
    if (!(err instanceof UnreadableBootstrap)) throw err
    return { envoyOk: envoy.ok, envoyOutput: envoy.output, findings: [unreadable(err)] }
  }
  const findings = checkBootstrap(parsed, {
    minMessageTimeoutMs: 500,
    peerIdentity: true,
    xfcc: false,
  })
  return { envoyOk: envoy.ok, envoyOutput: envoy.output, findings }
}

/** An unreadable file is the CLI's exit 2: counted as an error verdict. */
function unreadable(err: Error): Finding {
  return { severity: 'error', path: '', rule: 'unreadable', message: err.message }
}

/** Where the two disagree, in words; undefined when they agree. */
export function disagreement(v: Verdicts): string | undefined {
  if (!v.envoyOk) {
    if (v.findings.some((f) => f.severity === 'error')) return undefined
    return `Envoy rejects (${envoyReason(v.envoyOutput)}), check-envoy reports no error`
  }
  const structural = v.findings.filter((f) => isStructural(f.rule))
  if (structural.length === 0) return undefined
  return `Envoy accepts, check-envoy reports ${structural.map((f) => `${f.rule} at ${f.path}: ${f.message}`).join('; ')}`
}

/** Runs `task` over `items` with at most `limit` at once (the machine has 2 cores). */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await task(items[i] as T, i)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}
