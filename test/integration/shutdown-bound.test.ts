import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http2 from 'node:http2'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startChildServer } from '../helpers/child-server.js'

// SIGTERM ends the process within drain_seconds + grace_seconds whatever peers hold open: a
// TCP connection that never speaks, one that sent only the HTTP/2 preface, an idle HTTP/2
// session. Before, each kept the process alive until the peer left (46 s, 31 s in the review).

const DRAIN_S = 0.2
const GRACE_S = 0.5
/** How late the exit may be beyond drain + grace on a busy machine (it was unbounded). */
const SLACK_MS = 6000

type Hold = 'nothing' | 'silent TCP' | 'preface only' | 'idle HTTP/2 session'
const HOLDS: readonly Hold[] = ['nothing', 'silent TCP', 'preface only', 'idle HTTP/2 session']

async function hold(kind: Hold, port: number): Promise<() => void> {
  if (kind === 'nothing') return () => {}
  if (kind === 'idle HTTP/2 session') {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', () => {})
    await new Promise((resolve) => session.once('connect', resolve))
    return () => session.destroy()
  }
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  if (kind === 'preface only') socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
  return () => socket.destroy()
}

for (const transport of ['http2', 'grpc-js'] as const) {
  describe(`shutdown is bounded by drain + grace (${transport})`, () => {
    let dir: string
    let config: string
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shutdown-'))
      config = join(dir, 'config.yaml')
      await writeFile(
        config,
        `listen: 127.0.0.1:0\ntransport: ${transport}\nshutdown:\n  drain_seconds: ${DRAIN_S}\n  grace_seconds: ${GRACE_S}\npolicy:\n  rules:\n    - { name: all, path: /**, public: true }\n`,
      )
    })
    after(() => rm(dir, { recursive: true, force: true }))

    for (const kind of HOLDS) {
      test(`holding ${kind}: exits 0 within drain + grace`, async (t) => {
        const server = await startChildServer(config)
        const release = await hold(kind, server.port)
        try {
          const started = performance.now()
          server.kill('SIGTERM')
          const bound = (DRAIN_S + GRACE_S) * 1000 + SLACK_MS
          const code = await Promise.race([
            server.exited(),
            new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), bound).unref()),
          ])
          const ms = performance.now() - started
          t.diagnostic(`exit ${code} after ${Math.round(ms)} ms`)
          assert.equal(code, 0, `still running ${bound} ms after SIGTERM`)
        } finally {
          release()
          await server.stop(1000)
        }
      })
    }
  })
}
