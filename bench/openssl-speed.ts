import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
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

export interface NodeBesideOpenssl {
  /** node:crypto privateDecrypt (RSA-OAEP-SHA256) in a loop: operations per CPU-second. */
  readonly node: number
  /** `openssl speed rsaN` private operations per CPU-second, over the same seconds. */
  readonly openssl: number
}

const RSA_LOOP = fileURLToPath(new URL('./rsa-loop.js', import.meta.url))

/**
 * Node's ceiling: bench/rsa-loop.js and `openssl speed -seconds N rsa<bits>` started together
 * on the same CPU, so they share the core over the same seconds (the host cannot favour one),
 * each counting operations per CPU-second of its own. openssl's sign phase (the private
 * operations) is its first N seconds, the loop's N seconds.
 */
export async function nodeBesideOpenssl(
  bits: number,
  keyFile: string,
  seconds: number,
  cpus: string,
): Promise<NodeBesideOpenssl> {
  const [cmd, args] = pinned(cpus, process.execPath, [RSA_LOOP, keyFile, String(seconds)])
  const loop = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  loop.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const exited = new Promise<number | null>((resolve) => loop.on('exit', resolve))
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rsa-loop did not start in 30 s')), 30_000)
    loop.stdout.on('data', () => {
      if (!out.includes('READY\n')) return
      clearTimeout(timer)
      resolve()
    })
    void exited.then(() => reject(new Error(`rsa-loop exited early: ${out}`)))
  })
  try {
    await ready
  } catch (err) {
    loop.kill()
    throw err
  }
  const [ocmd, oargs] = pinned(cpus, 'openssl', [
    'speed',
    '-seconds',
    String(seconds),
    `rsa${bits}`,
  ])
  const speed = promisify(execFile)(ocmd, oargs, { timeout: 120_000 })
  loop.stdin.end('go\n')
  const [{ stdout }, code] = await Promise.all([speed, exited])
  const m = /^\{.*\}$/m.exec(out)
  const ossl = new RegExp(`^rsa\\s+${bits} bits\\s+\\S+s\\s+\\S+s\\s+([\\d.]+)`, 'm').exec(stdout)
  if (code !== 0 || m === null || ossl === null) {
    throw new Error(
      `cannot measure node beside openssl (rsa-loop exit ${code}):\n${out}\n${stdout}`,
    )
  }
  const r = JSON.parse(m[0]) as { ops: number; cpuS: number }
  return { node: Math.round(r.ops / r.cpuS), openssl: Math.round(Number(ossl[1])) }
}
