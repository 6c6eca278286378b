/** Latency samples in microseconds; exact percentiles by sorting once at the end. */
export class Samples {
  private data = new Float64Array(1 << 16)
  private n = 0

  add(us: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.n++] = us
  }

  get count(): number {
    return this.n
  }

  /** Percentiles (0-100) in milliseconds, nearest-rank. */
  summary(): { p50: number; p90: number; p99: number; p999: number; max: number; mean: number } {
    const sorted = this.data.subarray(0, this.n).slice().sort()
    const at = (p: number) =>
      this.n === 0 ? 0 : (sorted[Math.min(this.n - 1, Math.ceil((p / 100) * this.n) - 1)] ?? 0)
    let sum = 0
    for (let i = 0; i < this.n; i++) sum += sorted[i] as number
    const ms = (us: number) => Math.round(us) / 1000
    return {
      p50: ms(at(50)),
      p90: ms(at(90)),
      p99: ms(at(99)),
      p999: ms(at(99.9)),
      max: ms(this.n === 0 ? 0 : (sorted[this.n - 1] as number)),
      mean: ms(this.n === 0 ? 0 : sum / this.n),
    }
  }
}
