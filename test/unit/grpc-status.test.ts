import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { GRPC_STATUS } from '../../src/shared/grpc-status.js'

test('the gRPC status table matches grpc-js, name for name and number for number', () => {
  const reference = Object.fromEntries(
    Object.entries(grpc.status).filter(([name]) => Number.isNaN(Number(name))),
  )
  assert.deepEqual({ ...GRPC_STATUS }, reference)
})

test('the status numbers are 0 to 16, each once', () => {
  const numbers = Object.values(GRPC_STATUS).sort((a, b) => a - b)
  assert.deepEqual(
    numbers,
    Array.from({ length: 17 }, (_, i) => i),
  )
})
