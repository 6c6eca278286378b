import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { type RunningServer, startServer } from '../../src/app/server.js'
import { loadConfigFile } from '../../src/config/load-config.js'
import type { Config } from '../../src/config/schema.js'
import { createLogger } from '../../src/shared/logger.js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import {
  hostPath,
  imageHealthcheck,
  playCertsService,
  REPO_ROOT,
  readCompose,
  service,
} from '../helpers/lab-files.js'
import { LogCapture } from '../helpers/test-server.js'
import { GARBAGE_TOKEN, LAB_CASES, LAB_IDS, LAB_SESSION, type LabCase } from '../lab/cases.js'

// lab/config.yaml under the real server, with the PKI and runner key made at test time by the
// same commands the compose `certs` service runs, and the test client in Envoy's place: it
// presents envoy.pem on the channel and sends what envoy.yaml's ext_proc filter sends. This is
// the lab end to end minus Envoy.

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

describe('lab processor config, served for real', () => {
  let tmp: string
  let server: RunningServer
  let files: (containerPath: string) => string
  let token: string
  const logs = new LogCapture()

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lab-processor-'))
    const compose = readCompose()
    const volumes = playCertsService(compose, tmp)
    const proc = service(compose, 'extproc-authz')
    files = (p) => hostPath(proc, p, volumes)
    const lab = await loadConfigFile(join(REPO_ROOT, 'lab', 'config.yaml'))
    const tls = lab.tls
    assert.ok(tls?.cert_file && tls.key_file && tls.bundles && lab.runner_tokens)
    // Only addresses and file locations change: the container's paths become the temp dirs.
    const config: Config = {
      ...lab,
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      tls: {
        ...tls,
        cert_file: files(tls.cert_file),
        key_file: files(tls.key_file),
        bundles: Object.fromEntries(Object.entries(tls.bundles).map(([k, v]) => [k, files(v)])),
      },
      runner_tokens: {
        ...lab.runner_tokens,
        private_keys: lab.runner_tokens.private_keys.map(files),
      },
    }
    server = await startServer({
      config,
      configSource: 'lab/config.yaml',
      logger: createLogger('info', logs),
    })
    const made = spawnSync(
      process.execPath,
      [
        MAIN,
        'token',
        'encrypt',
        '--public-key',
        files('/etc/extproc-authz/keys/public.pem'),
        '--session-id',
        LAB_SESSION,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    )
    assert.equal(made.status, 0, made.stderr)
    token = made.stdout.trim()
  })
  after(async () => {
    await server?.close(500)
    await rm(tmp, { recursive: true, force: true })
  })

  /** A channel to the processor presenting the given lab SVID, with Envoy's SNI. */
  function channel(name: 'envoy' | 'client'): grpc.Client {
    const read = (f: string) => readFileSync(files(`/etc/extproc-authz/certs/${f}`))
    const creds = grpc.credentials.createSsl(
      read('bundle.pem'),
      read(`${name}-key.pem`),
      read(`${name}.pem`),
    )
    return newClient(server.port, creds, { 'grpc.ssl_target_name_override': 'extproc-authz' })
  }

  function asEnvoySends(c: LabCase) {
    const bearer = c.token === 'valid' ? token : c.token === 'garbage' ? GARBAGE_TOKEN : undefined
    return requestHeaders(
      {
        ':method': c.method,
        ':path': c.path,
        ':authority': 'localhost:8443',
        ':scheme': 'https',
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
      {
        attributes: {
          'connection.uri_san_peer_certificate':
            LAB_IDS[c.caller === 'runner' ? 'runner' : 'other'],
          'request.id': `lab-${c.status}`,
          'source.address': '127.0.0.1:40000',
        },
      },
    )
  }

  for (const c of LAB_CASES) {
    test(`${c.name}: ${c.status}${c.reason ? ` ${c.reason}` : ''}`, async () => {
      const client = channel('envoy')
      try {
        const { responses, status } = await exchange(client, [asEnvoySends(c)])
        assert.equal(status.code, grpc.status.OK, status.details)
        if (c.status === 200) {
          const m = allowMutation(responses[0])
          assert.equal(m.set.get('x-spiffe-id'), LAB_IDS.runner)
          if (c.session !== undefined) {
            assert.equal(m.set.get('x-runner-session-id'), c.session)
            assert.ok(m.remove.includes('authorization'), 'the token never goes upstream')
          }
        } else {
          const deny = denyOf(responses[0])
          assert.equal(deny.status, c.status)
          assert.equal(deny.reason, c.reason)
        }
      } finally {
        client.close()
      }
    })
  }

  test("the channel refuses any SVID but Envoy's (here the runner's client.pem)", async () => {
    const client = channel('client')
    const refusedBefore = server.peerStats.refused
    try {
      const { responses, status } = await exchange(client, [asEnvoySends(LAB_CASES[0] as LabCase)])
      // The http2 transport drops the connection of a refused peer: no answer, no decision.
      assert.notEqual(status.code, grpc.status.OK)
      assert.equal(responses.length, 0)
      assert.ok(server.peerStats.refused > refusedBefore, 'the refusal is counted')
    } finally {
      client.close()
    }
  })

  test("the image's HEALTHCHECK command passes against the admin port, fails without it", async () => {
    const [node, ...args] = imageHealthcheck()
    assert.equal(node, 'node')
    // Asynchronous: the admin server answering it runs in this process.
    const run = (url: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, {
          env: { ...process.env, HEALTHCHECK_URL: url },
          stdio: 'ignore',
        })
        child.on('exit', (code) => resolve(code))
      })
    assert.equal(await run(`http://127.0.0.1:${server.adminPort}/healthz`), 0)
    assert.equal(await run(`http://127.0.0.1:${server.adminPort}/nope`), 1, 'a 404 is unhealthy')
    assert.equal(await run('http://127.0.0.1:1/healthz'), 1, 'no server is unhealthy')
  })

  test('no token appears in the decision log', () => {
    assert.ok(logs.raw.length > 0)
    assert.ok(!logs.text().includes(token))
    assert.ok(!logs.text().includes(GARBAGE_TOKEN))
  })
})
