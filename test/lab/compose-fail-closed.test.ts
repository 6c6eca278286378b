import { after, before, describe } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseAccessLogLine } from './access-log.js'
import {
  COUNT_PORT,
  compose,
  down,
  ENVOY_PORT,
  runnerToken,
  state,
  up,
  volumeFile,
  waitForState,
} from './compose.js'
import { registerFailClosedCases } from './fail-closed-cases.js'
import { labRequest, msUntil200, upstreamCount } from './https-client.js'
import type { LabControl } from './lab-control.js'

// The shared cases (fail-closed-cases.ts) through the docker-compose lab: Envoy's official
// image on envoy/envoy.yaml, the processor container killed, paused, unpaused and started.
// `make lab-test`; skipped with one line where no Docker engine runs. The same cases run in
// `make test` against local processes (local-envoy.test.ts).

describe('compose lab: fail closed through real Envoy', { timeout: 20 * 60_000 }, () => {
  let lab: LabControl
  before(async () => {
    up()
    const file = (f: string) => volumeFile(`/etc/extproc-authz/certs/${f}`)
    const ca = file('bundle.pem')
    const runner = { cert: file('client.pem'), key: file('client-key.pem') }
    lab = {
      envoyPort: ENVOY_PORT,
      ca,
      runner,
      other: { cert: file('processor.pem'), key: file('processor-key.pem') },
      token: (session) => runnerToken(session),
      jwe: (session, ttl) => runnerToken(session, ['--jwe', '--ttl', ttl]),
      upstreamCount: () => upstreamCount(COUNT_PORT),
      async kill() {
        compose(['kill', '-s', 'SIGKILL', 'extproc-authz'])
        await waitForState('extproc-authz', 'exited')
      },
      async hang() {
        compose(['pause', 'extproc-authz'])
        await waitForState('extproc-authz', 'paused')
      },
      async resume() {
        if (state('extproc-authz') === 'paused') compose(['unpause', 'extproc-authz'])
      },
      async restart() {
        if (state('extproc-authz') !== 'running') compose(['start', 'extproc-authz'])
        await waitForState('extproc-authz', 'running')
      },
      async details(path) {
        return (await this.accessLine(path)).details
      },
      async accessLine(path) {
        const key = /[?&]n=[^&]+/.exec(path)?.[0]?.slice(1) ?? path
        const deadline = Date.now() + 15_000
        for (;;) {
          const line = compose(['logs', '--no-log-prefix', 'envoy'])
            .split('\n')
            .find((l) => l.startsWith('{') && l.includes(key))
          if (line !== undefined) return parseAccessLogLine(line)
          if (Date.now() > deadline) throw new Error(`no access-log line for ${path}`)
          await sleep(250)
        }
      },
    }
    // Envoy starts after the processor is healthy; give its first health check time to pass.
    await msUntil200(
      () => labRequest({ port: ENVOY_PORT, ca, svid: runner, path: '/api/hello' }),
      60_000,
    )
  })
  after(() => {
    down()
  })
  registerFailClosedCases(() => lab)
})
