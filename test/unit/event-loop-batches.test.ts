import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BATCH_MS, EventLoopBatches, QUIET_MS } from '../../src/shared/event-loop-batches.js'

function scheduler(counted = true) {
  const state = { now: 1000, arrived: 0, jobs: 0 }
  const batches = new EventLoopBatches(
    () => state.now,
    () => (counted ? state.arrived : undefined),
    () => state.jobs,
  )
  return { state, batches }
}

test('one job per turn while other work arrives', () => {
  const { state, batches } = scheduler()
  assert.equal(batches.over, true, 'no batch yet')
  state.arrived = 3 // two others beside one job
  state.jobs = 1
  batches.startBatch()
  assert.equal(batches.over, true, 'the next job waits for a turn')
  assert.equal(batches.holding, false)
})

test('batches of BATCH_MS once only jobs have arrived for QUIET_MS', () => {
  const { state, batches } = scheduler()
  state.arrived = 1
  batches.startBatch() // one other: the quiet spell starts now
  state.now += QUIET_MS
  state.arrived += 4
  state.jobs += 4 // only jobs since
  batches.startBatch()
  assert.equal(batches.over, false)
  assert.equal(batches.holding, true)
  state.now += BATCH_MS
  assert.equal(batches.over, true)
})

test('without arrival counts, never a batch', () => {
  const { state, batches } = scheduler(false)
  state.now += 10 * QUIET_MS
  batches.startBatch()
  assert.equal(batches.over, true)
})

test('held answers go when the batch ends, when drained, or at the end of the turn', async () => {
  const { batches } = scheduler()
  const released: string[] = []
  const a = batches.hold().then(() => released.push('a'))
  const b = batches.hold().then(() => released.push('b'))
  batches.endBatch()
  await Promise.all([a, b])
  assert.deepEqual(released, ['a', 'b'])
  const c = batches.hold().then(() => released.push('c'))
  batches.drained()
  await c
  const d = batches.hold().then(() => released.push('d'))
  await new Promise<void>((resolve) => setImmediate(resolve))
  await d
  assert.deepEqual(released, ['a', 'b', 'c', 'd'])
})
