import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startUpstream, type Upstream } from '../../lab/upstream.js'
import { readCompose, service } from '../helpers/lab-files.js'

const SCRIPT = fileURLToPath(new URL('../../lab/upstream.js', import.meta.url))

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as net.AddressInfo).port
  await new Promise((resolve) => s.close(resolve))
  return port
}

// The lab's counting upstream, for real: traffic on one port moves the count, the control
// port reads and resets it without moving it.

async function getJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(url, init)
  assert.equal(res.status, 200, `${init?.method ?? 'GET'} ${url}`)
  return (await res.json()) as Record<string, unknown>
}

describe('lab upstream counter', () => {
  let up: Upstream
  let traffic: string
  let control: string

  before(async () => {
    up = await startUpstream()
    traffic = `http://127.0.0.1:${up.trafficPort}`
    control = `http://127.0.0.1:${up.controlPort}`
  })
  after(() => up.close())

  test('counts every request on the traffic port and echoes the identity headers', async () => {
    assert.deepEqual(await getJson(`${control}/count`), { count: 0 })
    const echo = await getJson(`${traffic}/api/hello?x=1`, {
      method: 'POST',
      headers: { 'x-spiffe-id': 'spiffe://example.org/ns/ci/sa/runner', authorization: 'Bearer t' },
    })
    assert.deepEqual(echo, {
      upstream: 'reached',
      method: 'POST',
      path: '/api/hello?x=1',
      spiffe_id: 'spiffe://example.org/ns/ci/sa/runner',
      session_id: null,
      authorization_present: true,
    })
    await getJson(`${traffic}/anything`)
    await getJson(`${traffic}/anything`)
    assert.deepEqual(await getJson(`${control}/count`), { count: 3 })
    assert.equal(up.count(), 3)
  })

  test('reading the count does not move it; reset sets it to zero', async () => {
    const before = (await getJson(`${control}/count`)).count
    assert.deepEqual(await getJson(`${control}/count`), { count: before })
    assert.deepEqual(await getJson(`${control}/reset`, { method: 'POST' }), { count: 0 })
    assert.deepEqual(await getJson(`${control}/count`), { count: 0 })
    await getJson(`${traffic}/one`)
    assert.deepEqual(await getJson(`${control}/count`), { count: 1 })
  })

  test('the control port answers only its two operations', async () => {
    assert.equal((await fetch(`${control}/reset`)).status, 404, 'reset needs POST')
    assert.equal((await fetch(`${control}/other`)).status, 404)
    assert.equal(up.count(), 1, 'control requests are not counted')
  })

  test('run as the compose service runs it: ports from the environment, exits 0 on SIGTERM', async () => {
    const [trafficPort, controlPort] = [await freePort(), await freePort()]
    const child = spawn(process.execPath, [SCRIPT], {
      env: {
        ...process.env,
        UPSTREAM_PORT: String(trafficPort),
        CONTROL_PORT: String(controlPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      assert.match(line.toString(), new RegExp(`traffic :${trafficPort}, count :${controlPort}`))
      await getJson(`http://127.0.0.1:${trafficPort}/x`)
      assert.deepEqual(await getJson(`http://127.0.0.1:${controlPort}/count`), { count: 1 })
      // The compose healthcheck's own command, pointed at this control port.
      const upstream = service(readCompose(), 'upstream')
      const [cmd, node, ...args] = upstream.healthcheck?.test ?? []
      assert.deepEqual([cmd, node], ['CMD', 'node'])
      const composePort = upstream.environment?.CONTROL_PORT
      assert.ok(
        args.some((a) => a.includes(`:${composePort}/count`)),
        'it asks the control port',
      )
      const script = args.map((a) => a.replace(`:${composePort}/`, `:${controlPort}/`))
      const hc = spawn(process.execPath, script, { stdio: 'ignore' })
      assert.deepEqual(await once(hc, 'exit'), [0, null])
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = (await once(child, 'exit')) as [number | null]
    assert.equal(code, 0)
  })

  test('refuses to start without valid ports', () => {
    const r = spawnSync(process.execPath, [SCRIPT], {
      env: { ...process.env, UPSTREAM_PORT: 'eighty', CONTROL_PORT: '8081' },
      encoding: 'utf8',
      timeout: 10_000,
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /UPSTREAM_PORT: expected a port number/)
  })
})
