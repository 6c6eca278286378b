/** Lines a limited event writes per window by default: enough to see who, never a flood. */
const LINES_PER_WINDOW = 5
const WINDOW_MS = 10_000

/**
 * Rate limit for a log line a peer can trigger at will (a refused peer reconnecting in a tight
 * loop wrote 179 warnings in 5 s). At most `perWindow` lines per `windowMs`; the rest are
 * counted, and the next line written says how many were left out before it. The clock is
 * injected: tests step it instead of waiting.
 */
export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY
  private written = 0
  private sinceLast = 0
  /** Lines left out so far (cumulative; the metric). */
  notLogged = 0

  constructor(
    private readonly perWindow = LINES_PER_WINDOW,
    private readonly windowMs = WINDOW_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Whether to write this line: undefined means leave it out (it is counted); a number is how
   * many were left out since the last line written (0 when none).
   */
  take(): number | undefined {
    const now = this.now()
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now
      this.written = 0
    }
    if (this.written >= this.perWindow) {
      this.notLogged++
      this.sinceLast++
      return undefined
    }
    this.written++
    const skipped = this.sinceLast
    this.sinceLast = 0
    return skipped
  }
}
