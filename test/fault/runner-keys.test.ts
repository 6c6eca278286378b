import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { newClient } from '../helpers/extproc-client.js'
import { requestMix, runnerKey, tempDir, writeConfig } from './fixture.js'
import type { World } from './oracle.js'
import { assertFailClosed, type SteadyLoad, startSteadyLoad } from './steady-load.js'

// The design promise (docs/runner-tokens.md, SECURITY.md "Key handling"): a key file that cannot
// be loaded (garbage, half-written, deleted) never replaces the working keyring, so valid tokens
// keep being accepted; a different VALID key is a rotation and takes over: tokens for the old key
// are refused from then on, cached ones included.
const NOT_RELOADED = /runner token keys not reloaded; keeping the last good keyring/
const RELOADED = /runner token keys reloaded/

describe('fault injection: runner key file under steady load (real server process)', () => {
  const A = runnerKey('A')
  const B = runnerKey('B')
  const C = runnerKey('C') // never in the keyring
  const dir = tempDir()
  const keyFile = join(dir, 'runner.pem')
  const world: World = {
    keys: new Map([
      ['A', 'in'],
      ['B', 'out'],
      ['C', 'out'],
    ]),
    policy: 'v1',
    epoch: 0,
  }
  let server: ChildServer
  let client: grpc.Client
  let load: SteadyLoad

  const writeKey = async (pem: string, expect: RegExp) => {
    const mark = server.mark()
    writeFileSync(keyFile, pem, { mode: 0o600 })
    await server.waitFor(expect, 20_000, mark)
  }
  const swapTo = async (next: typeof A, prev: typeof A) => {
    world.keys.set(next.label, 'changing')
    world.keys.set(prev.label, 'changing')
    world.epoch++
    await writeKey(next.privateKey, RELOADED)
    world.keys.set(next.label, 'in')
    world.keys.set(prev.label, 'out')
    world.epoch++
  }

  before(async () => {
    writeFileSync(keyFile, A.privateKey, { mode: 0o600 })
    server = await startChildServer(writeConfig(dir, { keyFile }))
    client = newClient(server.port)
    load = startSteadyLoad(client, world, requestMix(A, [B, C]))
    await load.allowedAgain('token-cached', 0)
  })
  after(async () => {
    await load?.stop()
    client?.close()
    const code = await server?.stop()
    assert.equal(code, 0, 'clean exit after SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  test('garbage in the key file: refused, the last good keyring keeps accepting tokens', async () => {
    await writeKey(
      '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n',
      NOT_RELOADED,
    )
    const since = Date.now()
    await load.allowedAgain('token-unique-A', since) // a fresh decryption, not a cache hit
    await load.allowedAgain('token-cached', since)
    await writeKey(A.privateKey, RELOADED)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [], 'no valid token refused')
  })

  test('key file deleted: treated as a bad file, the last good keyring stays', async () => {
    const mark = server.mark()
    rmSync(keyFile)
    await server.waitFor(/cannot read \(ENOENT\)/, 20_000, mark)
    const since = Date.now()
    await load.allowedAgain('token-unique-A', since)
    await writeKey(A.privateKey, RELOADED)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [], 'no valid token refused')
  })

  test('a mismatched (different, valid) key: takes over; old tokens, cached ones too, refused', async () => {
    await swapTo(B, A)
    const since = Date.now()
    await load.allowedAgain('token-unique-B', since)
    // Enough traffic under B for cached and fresh A tokens to be judged (all must be denied).
    const denied = load.tally.denies
    while (load.tally.denies < denied + 40) await new Promise((r) => setTimeout(r, 20))
    assert.ok(
      !load.tally.lastAllowAt.has('token-cached') ||
        (load.tally.lastAllowAt.get('token-cached') ?? 0) < since,
    )
    // Recovery: the right key back; A tokens (and the cached one) are allowed again.
    await swapTo(A, B)
    const back = Date.now()
    await load.allowedAgain('token-unique-A', back)
    await load.allowedAgain('token-cached', back)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [], 'no valid token refused')
  })
})
