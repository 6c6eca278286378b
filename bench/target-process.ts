import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const TARGET = fileURLToPath(new URL('./target.js', import.meta.url))
const HAS_TASKSET = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0

/** Prefix for pinning a command to CPUs, when taskset exists ("0", "0,1"). */
export function pinned(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  if (cpus === undefined || !HAS_TASKSET) return [cmd, args]
  return ['taskset', ['-c', cpus, cmd, ...args]]
}

export interface RunningTarget {
  readonly port: number
  /** The server's process id (taskset execs node, so this is node's). */
  readonly pid: number
  stop(): Promise<void>
}

/**
 * Starts bench/target.js in its own process (pinned), waits for "PORT n". BENCH_NODE_ARGS adds
 * node flags to every target, e.g. "--cpu-prof --cpu-prof-dir=prof" to profile what a run does.
 */
export function startTarget(
  kind: string,
  scenario: string,
  opts: {
    cpus?: string
    env?: NodeJS.ProcessEnv
    nodeArgs?: string[]
    /** Another build's dist/bench/target.js (bench/ab.ts compares two builds). */
    script?: string
  } = {},
): Promise<RunningTarget> {
  const [cmd, args] = pinned(opts.cpus, process.execPath, [
    ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
    ...(opts.nodeArgs ?? []),
    opts.script ?? TARGET,
    kind,
    scenario,
  ])
  const child: ChildProcess = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...opts.env },
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${kind} did not start in 10 s`)), 10_000)
    child.on('exit', (code) => reject(new Error(`${kind} exited with ${code}`)))
    const onData = (c: Buffer) => {
      out += c.toString()
      const m = /PORT (\d+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      // Whatever the target prints later is read and dropped, not kept by the generator.
      child.stdout?.off('data', onData)
      child.stdout?.resume()
      resolve({
        port: Number(m[1]),
        pid: child.pid ?? -1,
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done())
            child.kill('SIGTERM')
          }),
      })
    }
    child.stdout?.on('data', onData)
  })
}
