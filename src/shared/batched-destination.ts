import type { DestinationStream } from 'pino'

/** What the batcher needs from the stream under it (pino.destination's SonicBoom has it all). */
interface FlushableStream extends DestinationStream {
  flush?(cb?: (err?: Error | null) => void): void
  flushSync?(): void
}

/** Runs `drain` once, `ms` from now; must never keep the process alive. */
type ScheduleDrain = (drain: () => void, ms: number) => void

// Unref'd: pending lines never keep a process alive; the exit hook writes them.
const unrefTimeout: ScheduleDrain = (drain, ms) => {
  setTimeout(drain, ms).unref()
}

/** Lines held before a write is forced at once. */
const MAX_PENDING_CHARS = 64 * 1024
/** Longest a line waits for others to share its write. */
export const MAX_DELAY_MS = 5

/**
 * Collects log lines for up to MAX_DELAY_MS (or 64 KiB) and hands them to `sink` as one string,
 * so a burst of decisions costs one write: per-write costs in sonic-boom and the thread pool
 * dominated otherwise (docs/benchmarks.md "Design measurements"). Nothing is lost on exit: the
 * 'exit' hook drains the pending lines synchronously.
 */
export class BatchedDestination implements FlushableStream {
  private pending: string[] = []
  private pendingChars = 0
  private scheduled = false
  private readonly onExit = () => this.flushSync()

  constructor(
    private readonly sink: FlushableStream,
    /** When the window ends (injected: tests end it themselves instead of sleeping). */
    private readonly schedule: ScheduleDrain = unrefTimeout,
  ) {
    process.once('exit', this.onExit)
  }

  write(line: string): boolean {
    this.pending.push(line)
    this.pendingChars += line.length
    if (this.pendingChars >= MAX_PENDING_CHARS) this.drain()
    else if (!this.scheduled) {
      this.scheduled = true
      this.schedule(this.drainScheduled, MAX_DELAY_MS)
    }
    return true
  }

  private readonly drainScheduled = () => {
    this.scheduled = false
    this.drain()
  }

  /** Hands everything pending to the sink now. */
  private drain(): void {
    if (this.pending.length === 0) return
    const lines = this.pending
    this.pending = []
    this.pendingChars = 0
    this.sink.write(lines.length === 1 ? (lines[0] as string) : lines.join(''))
  }

  flush(cb?: (err?: Error | null) => void): void {
    this.drain()
    if (this.sink.flush !== undefined) this.sink.flush(cb)
    else cb?.()
  }

  flushSync(): void {
    this.drain()
    try {
      this.sink.flushSync?.()
    } catch {
      // The sink is not open yet or already closed: nothing more can be written.
    }
  }

  /** Stops watching for exit (tests create many). Pending lines are drained first. */
  close(): void {
    this.drain()
    process.removeListener('exit', this.onExit)
  }
}
