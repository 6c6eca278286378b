import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { REPO_ROOT } from '../helpers/lab-files.js'

// Drives the lab with the `docker compose` CLI. The tests run their own compose project on
// their own ports, so a lab started with `make lab` is left alone (LAB_PROJECT, LAB_ENVOY_PORT
// and LAB_COUNT_PORT override them; LAB_KEEP=1 leaves the test project up afterwards).

export const PROJECT = process.env.LAB_PROJECT ?? 'extproc-authz-labtest'
export const ENVOY_PORT = Number(process.env.LAB_ENVOY_PORT ?? 18443)
export const COUNT_PORT = Number(process.env.LAB_COUNT_PORT ?? 18081)
export const KEEP = process.env.LAB_KEEP === '1'

const BUILD_TIMEOUT_MS = 15 * 60_000 // a cold image build: npm ci, buf, tsc on 2 cores

/** Runs `docker compose <args>` for the test project; returns stdout, throws with stderr. */
export function compose(args: readonly string[], timeoutMs = 120_000): string {
  return composeOutput(args, timeoutMs).stdout
}

/** Like compose(), with stderr too (Envoy logs there). */
export function composeOutput(
  args: readonly string[],
  timeoutMs = 120_000,
): { stdout: string; stderr: string } {
  const r = spawnSync(
    'docker',
    ['compose', '-f', join(REPO_ROOT, 'docker-compose.yml'), '-p', PROJECT, ...args],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        LAB_ENVOY_PORT: String(ENVOY_PORT),
        LAB_COUNT_PORT: String(COUNT_PORT),
      },
    },
  )
  if (r.error !== undefined) throw r.error
  if (r.status !== 0) {
    throw new Error(`docker compose ${args.join(' ')} exited ${r.status}:\n${r.stderr}`)
  }
  return { stdout: r.stdout, stderr: r.stderr }
}

export function up(): void {
  compose(['up', '-d', '--build'], BUILD_TIMEOUT_MS)
}

/** Builds the image and runs the one-shot certs service (what `up` does first). */
export function certsOnly(): void {
  compose(['build'], BUILD_TIMEOUT_MS)
  compose(['run', '--rm', '-T', 'certs'])
}

export function down(): void {
  if (!KEEP) compose(['down', '-v', '--remove-orphans'])
}

/** A file from the lab's volumes, read through the certs service's image. */
export function volumeFile(path: string): string {
  return compose(['run', '--rm', '--no-deps', '-T', '--entrypoint', 'cat', 'certs', path])
}

/** A runner token for `session`, made by the project's CLI against the lab's public key. */
export function runnerToken(session: string, more: readonly string[] = []): string {
  return compose([
    'run',
    '--rm',
    '--no-deps',
    '-T',
    '--entrypoint',
    'extproc-authz',
    'certs',
    'token',
    'encrypt',
    '--public-key',
    '/etc/extproc-authz/keys/public.pem',
    '--session-id',
    session,
    ...more,
  ]).trim()
}

/** The container state of a service: running, paused, exited, ... */
export function state(serviceName: string): string {
  const id = compose(['ps', '-a', '-q', serviceName]).trim().split('\n')[0] ?? ''
  if (id === '') return 'absent'
  const r = spawnSync('docker', ['inspect', '-f', '{{.State.Status}}', id], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : 'absent'
}

/** Polls until the service's container is in `wanted` (docker returns before it settles). */
export async function waitForState(serviceName: string, wanted: string, ms = 20_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const s = state(serviceName)
    if (s === wanted) return
    if (Date.now() > deadline) throw new Error(`${serviceName} is ${s}, not ${wanted}`)
    await sleep(200)
  }
}
