import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

// The machine is shared: a wall-clock rate counts whatever else ran on the core. CPU seconds
// the server's own processes used (all threads: event loop, libuv pool, workers) give a rate
// per CPU-second, comparable with `openssl speed` (which divides by CPU user time by default).

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

function stat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }
  } catch {
    return undefined
  }
}

/** User + system CPU seconds of a process and its direct children (cluster workers). */
export function treeCpuSeconds(pid: number): number {
  let ticks = stat(pid)?.ticks ?? 0
  for (const name of readdirSync('/proc')) {
    const child = Number(name)
    if (!Number.isInteger(child) || child === pid) continue
    const s = stat(child)
    if (s !== undefined && s.ppid === pid) ticks += s.ticks
  }
  return ticks / TICKS
}

/** User + system CPU seconds of one process's main thread (the event loop) alone. */
export function mainThreadCpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / TICKS
  } catch {
    return 0
  }
}
