import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import { newClient } from '../helpers/extproc-client.js'
import { configYaml, POLICY_V1, POLICY_V2, requestMix, runnerKey, tempDir } from './fixture.js'
import type { World } from './oracle.js'
import { assertFailClosed, type SteadyLoad, startSteadyLoad } from './steady-load.js'

// A broken config file (truncated YAML, an invalid rule) is refused whole and the last good
// policy keeps deciding; the next valid file is applied, tightening as well as loosening.
const NOT_RELOADED = /config not reloaded; keeping the last good one/
const RELOADED = /"msg":"config reloaded"/

describe('fault injection: policy/config file under steady load (real server process)', () => {
  const A = runnerKey('A')
  const dir = tempDir()
  const keyFile = join(dir, 'runner.pem')
  const configFile = join(dir, 'config.yaml')
  const world: World = { keys: new Map([['A', 'in']]), policy: 'v1', epoch: 0 }
  let server: ChildServer
  let client: grpc.Client
  let load: SteadyLoad

  const writeConfigText = async (text: string, expect: RegExp) => {
    const mark = server.mark()
    writeFileSync(configFile, text)
    await server.waitFor(expect, 20_000, mark)
  }
  const applyPolicy = async (policy: string, label: 'v1' | 'v2') => {
    world.policy = 'changing'
    world.epoch++
    await writeConfigText(configYaml({ keyFile, policy }), RELOADED)
    world.policy = label
    world.epoch++
  }

  before(async () => {
    writeFileSync(keyFile, A.privateKey, { mode: 0o600 })
    writeFileSync(configFile, configYaml({ keyFile }))
    server = await startChildServer(configFile)
    client = newClient(server.port)
    load = startSteadyLoad(client, world, requestMix(A, []))
    await load.allowedAgain('spiffe-allowed', 0)
  })
  after(async () => {
    await load?.stop()
    client?.close()
    assert.equal(await server?.stop(), 0, 'clean exit after SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  test('truncated YAML: refused, the last good policy keeps deciding', async () => {
    // Cut inside a flow mapping, so the prefix is not YAML. (A cut at a line end can leave a
    // valid config: hot reload applies any valid file it reads; see SECURITY.md "Config files".)
    const good = readFileSync(configFile, 'utf8')
    await writeConfigText(good.slice(0, good.indexOf('/api/admin/**') + 7), NOT_RELOADED)
    const since = Date.now()
    await load.allowedAgain('spiffe-allowed', since)
    await load.allowedAgain('token-unique-A', since)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
  })

  test('an invalid rule (two effects, unknown key): refused whole', async () => {
    const loose = POLICY_V2.replace('public: true }\n', 'public: true, deny: true }\n')
    await writeConfigText(configYaml({ keyFile, policy: loose }), NOT_RELOADED)
    const typo = POLICY_V2.replace('path: /open/**', 'paht: /open/**')
    await writeConfigText(configYaml({ keyFile, policy: typo }), NOT_RELOADED)
    const since = Date.now()
    await load.allowedAgain('spiffe-allowed', since)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
    assert.ok(!load.tally.lastAllowAt.has('open'), 'the refused rule never opened /open')
  })

  test('config file deleted: the last good config stays until a file is back', async () => {
    const mark = server.mark()
    rmSync(configFile)
    await server.waitFor(NOT_RELOADED, 20_000, mark)
    await load.allowedAgain('spiffe-allowed', Date.now())
    await writeConfigText(configYaml({ keyFile }), RELOADED)
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
  })

  test('recovery: the next valid file applies (loosening, then tightening back)', async () => {
    await applyPolicy(POLICY_V2, 'v2')
    await load.allowedAgain('open', Date.now())
    await applyPolicy(POLICY_V1, 'v1')
    const since = Date.now()
    await load.allowedAgain('spiffe-allowed', since)
    // The oracle judges /open as deny again from here on; give it traffic to judge.
    const total = load.tally.total
    while (load.tally.total < total + 60) await new Promise((r) => setTimeout(r, 20))
    assertFailClosed(load.tally, server)
    assert.deepEqual(load.tally.missedAllows.slice(0, 5), [])
  })
})
