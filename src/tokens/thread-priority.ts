import { webcrypto } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { setPriority } from 'node:os'

/** Lowest priority: such a thread runs when the event loop leaves the CPU idle. */
export const HELPER_THREAD_NICE = 19

/**
 * Lowers the scheduling priority of every thread of this process except the main one (the
 * libuv pool, where WebCrypto runs RSA, and V8's platform threads). A flood of unique runner
 * tokens would otherwise take the CPU from the event loop that answers cached decisions: on
 * one core, four pool threads against one event loop left it a fifth of the time. At nice 19
 * the pool gets only what the event loop does not use, so decryption throughput is unchanged
 * when nothing else is waiting. Linux only (threads are /proc/self/task entries and
 * setpriority() on a thread id applies to that thread); elsewhere, and on any error, it does
 * nothing. Returns how many threads were lowered.
 */
export async function lowerHelperThreadPriority(nice = HELPER_THREAD_NICE): Promise<number> {
  if (process.platform !== 'linux') return 0
  // libuv starts all its pool threads on the first job: make sure they exist before listing.
  await webcrypto.subtle.digest('SHA-256', new Uint8Array(1))
  let tids: string[]
  try {
    tids = readdirSync('/proc/self/task')
  } catch {
    return 0
  }
  let lowered = 0
  for (const tid of tids) {
    const id = Number(tid)
    if (!Number.isInteger(id) || id === process.pid) continue
    try {
      setPriority(id, nice)
      lowered++
    } catch {
      // the thread may have exited since the listing; priority is an optimisation only
    }
  }
  return lowered
}
