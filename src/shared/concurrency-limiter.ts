/**
 * At most `max` jobs at once: a job takes a slot or queues for one, and a finished job hands its
 * slot straight to the next in line (first come, first served).
 */
export class ConcurrencyLimiter {
  private running_ = 0
  private readonly waiting: Array<() => void> = []

  constructor(readonly max: number) {}

  /** Jobs holding a slot now. */
  get running(): number {
    return this.running_
  }

  /** Takes a slot: undefined when one was free, else a promise resolved once one is handed on. */
  acquire(): Promise<void> | undefined {
    if (this.running_ < this.max) {
      this.running_++
      return undefined
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  /** Hands the slot to the next waiter; false when none waited and the slot is free again. */
  release(): boolean {
    const next = this.waiting.shift()
    if (next !== undefined) {
      next()
      return true
    }
    this.running_--
    return false
  }
}
