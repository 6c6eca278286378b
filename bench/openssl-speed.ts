import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { pinned } from './target-process.js'

export interface OpensslSpeed {
  /** Private-key operations (the "sign/s" column) per second, by key size. */
  readonly privateOps: Record<string, number>
  readonly command: string
}

/**
 * `openssl speed -seconds N rsa2048 rsa4096` pinned like the server. By default openssl speed
 * divides by its own CPU user time, not wall-clock time, so other load on a shared machine
 * hardly moves it: compare it with the server's decryptions per CPU-second.
 */
export async function opensslSpeed(seconds: number, cpus: string): Promise<OpensslSpeed> {
  const args = ['speed', '-seconds', String(seconds), 'rsa2048', 'rsa4096']
  const [cmd, full] = pinned(cpus, 'openssl', args)
  const { stdout } = await promisify(execFile)(cmd, full, { timeout: 120_000 })
  const privateOps: Record<string, number> = {}
  for (const m of stdout.matchAll(/^rsa\s+(\d+) bits\s+\S+s\s+\S+s\s+([\d.]+)\s+[\d.]+/gm)) {
    privateOps[`rsa${m[1]}`] = Math.round(Number(m[2]))
  }
  if (privateOps.rsa2048 === undefined || privateOps.rsa4096 === undefined) {
    throw new Error(`cannot parse openssl speed output:\n${stdout}`)
  }
  return { privateOps, command: `${cmd} ${full.join(' ')}` }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return 0
  return n % 2 === 1
    ? (s[(n - 1) / 2] as number)
    : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2
}
