import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConcurrencyLimiter } from '../../src/shared/concurrency-limiter.js'

test('takes free slots at once, then queues; a released slot goes to the first in line', async () => {
  const slots = new ConcurrencyLimiter(2)
  assert.equal(slots.acquire(), undefined)
  assert.equal(slots.acquire(), undefined)
  assert.equal(slots.running, 2)
  const order: string[] = []
  const a = slots.acquire()?.then(() => order.push('a'))
  const b = slots.acquire()?.then(() => order.push('b'))
  assert.ok(a !== undefined && b !== undefined)
  assert.equal(slots.release(), true, 'handed on to a waiter')
  await a
  assert.deepEqual(order, ['a'])
  assert.equal(slots.running, 2, 'a handed-on slot stays taken')
  assert.equal(slots.release(), true)
  await b
  assert.deepEqual(order, ['a', 'b'])
  assert.equal(slots.release(), false, 'nobody waited: the slot is free')
  assert.equal(slots.release(), false)
  assert.equal(slots.running, 0)
  assert.equal(slots.acquire(), undefined)
})
