/** Longest a batch of event-loop jobs holds the loop (nothing else arriving). */
export const BATCH_MS = 5
/** How long only jobs must have arrived before they are batched. */
export const QUIET_MS = 100

/**
 * Schedules CPU-bound jobs run on the event loop itself (RSA on a one-core process): one job per
 * turn while other work arrives, so that work waits at most one job; batches of up to BATCH_MS
 * once only jobs have arrived for QUIET_MS, so a turn's poll, reads and writes are shared (the
 * measurements: docs/benchmarks.md "Design measurements"). A batch's answers are held until it
 * ends, then released together.
 */
export class EventLoopBatches {
  /** Until when (clock()) this turn's batch may start jobs. */
  private batchEnd = 0
  /** When other work last arrived, and the counts it was judged from. */
  private lastOtherAt = Number.NEGATIVE_INFINITY
  private lastArrived = 0
  private lastJobs = 0
  /** Answers of jobs done in this turn's batch, released when it ends. */
  private held: Array<() => void> = []

  constructor(
    /** Milliseconds, injected so tests step it instead of racing the wall clock. */
    private readonly clock: () => number,
    /** Units of work arrived so far (streams), or undefined when not counted: no batches. */
    private readonly arrived: () => number | undefined,
    /** Those of them that asked for a job (or were refused one): the rest are other work. */
    private readonly jobs: () => number,
  ) {}

  /** This turn's batch is over: the next job waits for a turn (see startBatch). */
  get over(): boolean {
    return this.clock() >= this.batchEnd
  }

  /** Before waiting for the next turn: the batch's answers go first. */
  endBatch(): void {
    this.releaseHeld()
  }

  /** In the new turn: how long this batch may go on. */
  startBatch(): void {
    this.batchEnd = this.nextBatchEnd()
  }

  /** No job is left: the next one waits for a turn of its own. */
  drained(): void {
    this.batchEnd = 0
    this.releaseHeld()
  }

  /** A finished job's answer waits while the batch goes on (another job runs in this turn). */
  get holding(): boolean {
    return this.clock() < this.batchEnd
  }

  /** Resolves when the batch ends: at the latest at the end of this turn. */
  hold(): Promise<void> {
    if (this.held.length === 0) setImmediate(this.releaseHeld)
    return new Promise<void>((resolve) => this.held.push(resolve))
  }

  /** Lets the answers of this turn's batch go. */
  private readonly releaseHeld = (): void => {
    if (this.held.length === 0) return
    const held = this.held
    this.held = []
    for (const release of held) release()
  }

  /** Now (one job per turn) while other work arrives; now + BATCH_MS after QUIET_MS of none. */
  private nextBatchEnd(): number {
    const now = this.clock()
    const arrived = this.arrived()
    if (arrived === undefined) return now
    const jobs = this.jobs()
    const others = arrived - this.lastArrived - (jobs - this.lastJobs)
    this.lastArrived = arrived
    this.lastJobs = jobs
    if (others > 0) this.lastOtherAt = now
    return now - this.lastOtherAt >= QUIET_MS ? now + BATCH_MS : now
  }
}
