// The rows `make bench` measures (bench/run.ts) and renders (bench/report.ts).

export interface MaxRow {
  target: string
  scenario: string
  client: 'h2load' | 'loadgen'
  /** Median over `runs` alternating runs (h2load rows of the repeated set), else one run. */
  rate: number
  runs: number[]
  /** Median streams/s per core the server actually used (its CPU-seconds per wall second). */
  perCore?: number
  /** Per-core rate over that of the no-op floor run just before, for each run (paired rows). */
  pairedRatios?: number[]
  errors: number
  p50?: number
  p99?: number
}
export interface LatencyRow {
  target: string
  scenario: string
  offered: number
  achieved: number
  errors: number
  p50: number
  p90: number
  p99: number
  max: number
}
