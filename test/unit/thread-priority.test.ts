import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { lowerHelperThreadPriority } from '../../src/tokens/thread-priority.js'

// node --test runs each file in its own process: lowering this process's threads touches no
// other test.
function niceOf(tid: string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
  // Field 19 (nice); the fields after the command name start at field 3.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

test('every thread but the event loop runs at nice 19, the event loop keeps its priority', {
  skip: process.platform !== 'linux' && 'needs /proc and per-thread setpriority (Linux)',
}, async () => {
  const mainBefore = niceOf(String(process.pid))
  const lowered = await lowerHelperThreadPriority()
  const helpers = readdirSync('/proc/self/task').filter((t) => t !== String(process.pid))
  // the libuv pool alone has 4 threads by default, and the call starts it if needed
  assert.ok(lowered >= 4, `lowered ${lowered}`)
  assert.ok(helpers.length >= lowered)
  for (const tid of helpers) assert.equal(niceOf(tid), 19, `thread ${tid}`)
  assert.equal(niceOf(String(process.pid)), mainBefore)
})
