import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Coalescer } from '../../src/shared/coalesce.js'

test('callers of a key in flight share its promise until it settles', async () => {
  const c = new Coalescer<string, number>(2)
  assert.equal(c.pending('k'), undefined)
  let finish: (v: number) => void = () => {}
  const work = c.started('k', new Promise<number>((resolve) => (finish = resolve)))
  assert.equal(c.pending('k'), work)
  assert.equal(c.size, 1)
  finish(7)
  assert.equal(await work, 7)
  c.settled('k')
  assert.equal(c.pending('k'), undefined)
  assert.equal(c.size, 0)
})

test('full once `limit` keys are in flight', () => {
  const c = new Coalescer<string, number>(2)
  c.started('a', Promise.resolve(1))
  assert.equal(c.full, false)
  c.started('b', Promise.resolve(2))
  assert.equal(c.full, true)
  c.settled('a')
  assert.equal(c.full, false)
})
