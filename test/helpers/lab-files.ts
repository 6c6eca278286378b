import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

// Reads the lab's files (docker-compose.yml, lab/config.yaml, envoy/*.yaml, Dockerfile) and
// plays the compose `certs` service locally, so tests can check what the lab would see.

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface ComposeService {
  readonly image?: string
  readonly build?: unknown
  readonly user?: string
  readonly entrypoint?: readonly string[]
  readonly command?: readonly string[]
  readonly environment?: Readonly<Record<string, string>>
  readonly ports?: readonly string[]
  readonly volumes?: readonly string[]
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>
  readonly healthcheck?: { readonly test?: readonly string[]; readonly disable?: boolean }
}

export interface ComposeFile {
  readonly services: Readonly<Record<string, ComposeService>>
  readonly volumes?: Readonly<Record<string, unknown>>
}

/** Parses YAML from the repo, with YAML 1.1 merge keys (`<<: *image`) as compose reads them. */
export function readRepoYaml(rel: string): unknown {
  return parse(readFileSync(join(REPO_ROOT, rel), 'utf8'), { merge: true })
}

export function readCompose(): ComposeFile {
  return readRepoYaml('docker-compose.yml') as ComposeFile
}

export function service(compose: ComposeFile, name: string): ComposeService {
  const s = compose.services[name]
  if (s === undefined) throw new Error(`docker-compose.yml has no service "${name}"`)
  return s
}

/** Compose interpolation as the lab uses it: `${VAR:-default}` with VAR unset. */
export function interpolateDefaults(s: string): string {
  return s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')
}

export interface Mount {
  readonly source: string
  readonly target: string
  readonly readOnly: boolean
  /** A named volume (not a bind mount of a host path). */
  readonly named: boolean
}

export function mounts(s: ComposeService): Mount[] {
  return (s.volumes ?? []).map((spec) => {
    const [source = '', target = '', mode] = spec.split(':')
    const named = !source.startsWith('.') && !source.startsWith('/')
    return { source, target, readOnly: mode === 'ro', named }
  })
}

/** Where a path inside a service's container lives: a named volume's dir or a repo file. */
export function hostPath(
  s: ComposeService,
  containerPath: string,
  volumeDirs: Readonly<Record<string, string>>,
): string {
  const m = mounts(s)
    .filter((m) => containerPath === m.target || containerPath.startsWith(`${m.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0]
  if (m === undefined) throw new Error(`${containerPath} is on no mount of the service`)
  const rest = posix.relative(m.target, containerPath)
  if (!m.named) return join(REPO_ROOT, m.source, rest)
  const dir = volumeDirs[m.source]
  if (dir === undefined) throw new Error(`named volume ${m.source} was not generated`)
  return join(dir, rest)
}

function cli(...args: string[]): void {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`extproc-authz ${args.join(' ')}: ${r.stderr}`)
}

/**
 * Runs what the compose `certs` service runs (`certs generate --out X`, `keys generate --out Y`
 * from its command), each into a temp dir standing for the named volume mounted at X or Y.
 * Returns volume name -> that dir. Keys are 2048-bit here to keep the test light.
 */
export function playCertsService(compose: ComposeFile, tmp: string): Record<string, string> {
  const certs = service(compose, 'certs')
  const script = (certs.command ?? []).join('\n')
  const dirs: Record<string, string> = {}
  for (const kind of ['certs', 'keys'] as const) {
    const m = new RegExp(`extproc-authz ${kind} generate --out (\\S+)`).exec(script)
    if (m === null) throw new Error(`the certs service does not run "${kind} generate --out"`)
    const target = m[1] as string
    const mount = mounts(certs).find((x) => x.target === target && x.named)
    if (mount === undefined) throw new Error(`${target} is not a named volume of certs`)
    const dir = join(tmp, mount.source)
    cli(kind, 'generate', '--out', dir, ...(kind === 'keys' ? ['--bits', '2048'] : []))
    dirs[mount.source] = dir
  }
  return dirs
}

/** The URI SANs of a PEM certificate (SPIFFE IDs). */
export function uriSans(pemFile: string): string[] {
  const san = new X509Certificate(readFileSync(pemFile)).subjectAltName ?? ''
  return [...san.matchAll(/URI:([^,\s"]+)/g)].map((m) => m[1] as string)
}

export function dnsSans(pemFile: string): string[] {
  const san = new X509Certificate(readFileSync(pemFile)).subjectAltName ?? ''
  return [...san.matchAll(/DNS:([^,\s"]+)/g)].map((m) => m[1] as string)
}

/** Dockerfile instructions of the last stage, continuation lines joined. */
export function runtimeStage(): Array<{ op: string; args: string }> {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
  const all = lines.map((l) => {
    const [op = '', ...rest] = l.trim().split(/\s+/)
    return { op: op.toUpperCase(), args: rest.join(' ') }
  })
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM')
  return all.slice(lastFrom)
}

export function dockerfileArgs(): Record<string, string> {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
  return Object.fromEntries(
    [...text.matchAll(/^ARG ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  )
}
