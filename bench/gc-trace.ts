// Reads V8's --trace-gc lines out of a process's output, e.g. (Node 20, V8 11.3):
//   [123:0x5e...]  4242 ms: Scavenge 41.2 (52.6) -> 33.9 (53.1) MB, 1.63 / 0.00 ms  (average mu = ...
//   [123:0x5e...]  9001 ms: Mark-Compact 98.7 (104.2) -> 60.1 (105.0) MB, 12.21 / 0.05 ms  (+ ...
// The first figure after "MB," is the pause on the main thread in ms. Output may arrive split
// anywhere, so text is matched across chunk ends.

const PAUSE =
  /ms: (Scavenge|Minor Mark-Compact|Mark-Compact(?: \(reduce\))?|Mark-Sweep)[^\n]*? MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/g

export interface GcWindow {
  /** Pauses seen since the last take(). */
  count: number
  major: number
  totalMs: number
  maxMs: number
  majorTotalMs: number
}

export class GcTrace {
  private tail = ''
  private w: GcWindow = GcTrace.empty()
  readonly all: GcWindow = GcTrace.empty()

  private static empty(): GcWindow {
    return { count: 0, major: 0, totalMs: 0, maxMs: 0, majorTotalMs: 0 }
  }

  push(chunk: string): void {
    const text = this.tail + chunk
    let consumed = 0
    for (const m of text.matchAll(PAUSE)) {
      const ms = Number(m[2])
      const major = m[1] !== 'Scavenge' && m[1] !== 'Minor Mark-Compact'
      for (const w of [this.w, this.all]) {
        w.count++
        w.totalMs += ms
        w.maxMs = Math.max(w.maxMs, ms)
        if (major) {
          w.major++
          w.majorTotalMs += ms
        }
      }
      consumed = (m.index ?? 0) + m[0].length
    }
    // Keep an unfinished line for the next chunk (a GC line is < 400 characters).
    const rest = text.slice(consumed)
    const nl = rest.lastIndexOf('\n')
    this.tail = (nl < 0 ? rest : rest.slice(nl + 1)).slice(-400)
  }

  /** The pauses since the last take(), and a fresh window. */
  take(): GcWindow {
    const w = this.w
    this.w = GcTrace.empty()
    return w
  }
}
