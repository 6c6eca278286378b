import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { test } from 'node:test'
import { AuthzError } from '../../src/shared/errors.js'
import { listenOn, splitListen } from '../../src/transport/listen.js'

test('splitListen: host and port, brackets off an IPv6 host; anything else ERR_LISTEN_INVALID', () => {
  assert.deepEqual(splitListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
  assert.deepEqual(splitListen('[::1]:50051'), { host: '::1', port: 50051 })
  assert.throws(
    () => splitListen('127.0.0.1'),
    (e: unknown) =>
      e instanceof AuthzError && e.code === 'ERR_LISTEN_INVALID' && e.keyPath === 'listen',
  )
})

test('listenOn: the bound port for port 0; a taken port rejects with its errno', async () => {
  const first = createServer()
  const port = await listenOn(first, '127.0.0.1:0')
  assert.ok(port > 0)
  const second = createServer()
  await assert.rejects(listenOn(second, `127.0.0.1:${port}`), { code: 'EADDRINUSE' })
  first.close()
})
