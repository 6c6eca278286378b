import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs'
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

/**
 * Runs the compose `certs` service's own script with /bin/sh, as its container would: each
 * named volume it mounts becomes a temp dir, `extproc-authz` on PATH is this build's CLI.
 * Returns volume name -> that dir.
 */
export function playCertsService(compose: ComposeFile, tmp: string): Record<string, string> {
  const certs = service(compose, 'certs')
  if (certs.entrypoint?.join(' ') !== '/bin/sh -ec') throw new Error('certs: expected sh -ec')
  const dirs: Record<string, string> = {}
  let script = (certs.command ?? []).join('\n')
  const named = mounts(certs)
    .filter((m) => m.named)
    .sort((a, b) => b.target.length - a.target.length)
  for (const m of named) {
    dirs[m.source] = join(tmp, m.source)
    mkdirSync(dirs[m.source] as string, { recursive: true }) // a mounted volume exists
    script = script.replaceAll(m.target, dirs[m.source] as string)
  }
  const bin = join(tmp, 'bin')
  mkdirSync(bin, { recursive: true })
  if (!existsSync(join(bin, 'extproc-authz'))) symlinkSync(MAIN, join(bin, 'extproc-authz'))
  const r = spawnSync('/bin/sh', ['-ec', script], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
  })
  if (r.status !== 0) throw new Error(`the certs service script failed: ${r.stderr}`)
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

/** The Dockerfile HEALTHCHECK's exec-form command (JSON array after CMD). */
export function imageHealthcheck(): string[] {
  const hc = runtimeStage().find((i) => i.op === 'HEALTHCHECK')
  const json = hc?.args.slice(hc.args.indexOf('CMD ') + 4)
  if (json === undefined) throw new Error('the runtime stage has no HEALTHCHECK CMD')
  return JSON.parse(json) as string[]
}
