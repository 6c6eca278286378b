import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { SoakReport } from '../../bench/soak-report.js'

// `make soak` in miniature: the same script, a few seconds, asserting the report is produced and
// its counts add up. Memory and speed are what the long run is for, not this one.
const SOAK = fileURLToPath(new URL('../../bench/soak.js', import.meta.url))

test('soak smoke run: report written (JSON + Markdown), counts add up, server exits cleanly', () => {
  const out = mkdtempSync(join(tmpdir(), 'soak-smoke-'))
  const seconds = 4
  const rate = 100
  try {
    const run = spawnSync(process.execPath, [SOAK], {
      env: {
        ...process.env,
        SOAK_SECONDS: String(seconds),
        SOAK_RATE: String(rate),
        SOAK_SAMPLE_SECONDS: '1',
        SOAK_KEY_BITS: '2048',
        SOAK_OUT: out,
      },
      encoding: 'utf8',
      timeout: 60_000,
    })
    const files = readdirSync(out).sort()
    assert.equal(files.length, 2, `${files.join(', ')}\n${run.stderr}`)
    assert.match(files[0] as string, /^soak-.*\.json$/)
    assert.match(files[1] as string, /^soak-.*\.md$/)
    const r = JSON.parse(readFileSync(join(out, files[0] as string), 'utf8')) as SoakReport
    const sum = (f: (c: SoakReport['classes'][number]) => number) =>
      r.classes.reduce((a, c) => a + f(c), 0)
    assert.equal(
      r.totals.completed,
      sum((c) => c.completed),
    )
    assert.equal(
      r.totals.errors,
      sum((c) => c.errors),
    )
    assert.equal(r.totals.streams, r.totals.completed + r.totals.errors)
    for (const c of r.classes) assert.ok(c.notSent <= c.errors, `${c.name}: not sent within errors`)
    // Open loop: each class offers rate x share streams a second whatever the server does, and
    // every offered stream is counted once, as expected or as an error.
    for (const c of r.classes) {
      const offered = rate * c.share * seconds
      assert.ok(
        Math.abs(c.completed + c.errors - offered) <= Math.max(2, offered * 0.1),
        `${c.name}: ${c.completed} + ${c.errors} streams for ${offered} offered`,
      )
    }
    assert.ok(r.samples.length >= 2, 'memory sampled over time')
    for (const s of r.samples) assert.ok(s.rssMB > 0 && s.heapUsedMB > 0, JSON.stringify(s))
    // Pauses and descriptors per window: the event-loop delay from /metrics, fds from /proc, GC
    // pauses parsed from the server's --trace-gc output (start-up alone makes some).
    for (const s of r.samples) assert.ok(s.openFds > 0, JSON.stringify(s))
    // A window shorter than the delay monitor's resolution (the last one) may have no p99.
    assert.ok(
      r.samples.filter((s) => Number.isFinite(s.loopP99Ms) && s.loopP99Ms > 0).length >=
        r.samples.length - 1,
      JSON.stringify(r.samples),
    )
    assert.ok(
      r.gcAll.count > 0 && r.gcAll.totalMs > 0 && r.gcAll.maxMs > 0,
      JSON.stringify(r.gcAll),
    )
    const inWindows = r.samples.reduce((a, s) => a + s.gc.count, 0)
    // Pauses during the shutdown after the last sample are in the total only.
    assert.ok(inWindows > 0 && inWindows <= r.gcAll.count, `${inWindows} of ${r.gcAll.count}`)
    assert.ok(Number.isFinite(r.memory.rssSlopeLastHalfMBPerMin))
    assert.equal(r.crashed, false)
    assert.equal(r.serverExitCode, 0)
    const pass = r.memory.withinBound && r.totals.errors === 0 && !r.crashed
    assert.equal(run.status, pass ? 0 : 1, 'exit status follows the verdict')
    const md = readFileSync(join(out, files[1] as string), 'utf8')
    assert.match(md, new RegExp(`${r.totals.completed} as expected, ${r.totals.errors} errors`))
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})
