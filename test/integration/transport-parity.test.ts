import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import * as http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { generateCa, type Issued, issueIntermediate, issueLeaf } from '../../src/pki/generate.js'
import {
  denyOf,
  exchange,
  HealthClient,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { grpcFrameOf } from '../helpers/grpc-frame.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// The same cases against both transports over real TLS 1.3 on loopback: what one transport
// answers, the other answers too (the last test compares the two transports' outcomes).

const TRANSPORTS = ['http2', 'grpc-js'] as const
type Kind = (typeof TRANSPORTS)[number]
const EXTPROC = 'envoy.service.ext_proc.v3.ExternalProcessor'
const HEALTHZ = { ':method': 'GET', ':path': '/healthz', ':authority': 'a', ':scheme': 'https' }
const PROCESS_PATH = `/${EXTPROC}/Process`

/** Each case's outcome per transport, compared at the end. */
const outcomes: Record<Kind, Record<string, unknown>> = { http2: {}, 'grpc-js': {} }

type HealthStub = {
  Check(req: object, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void
  Watch(req: object): grpc.ClientReadableStream<{ status: string }>
  close(): void
}

for (const kind of TRANSPORTS) {
  describe(`transport parity (${kind})`, () => {
    let ts: TestServer
    let ca: Issued
    let envoy: Issued
    let decisions = 0
    const dir = mkdtempSync(join(tmpdir(), `parity-${kind}-`))
    const record = (name: string, outcome: unknown) => {
      outcomes[kind][name] = outcome
    }

    before(async () => {
      ca = await generateCa('example.org CA')
      const server = await issueLeaf(ca, {
        uris: ['spiffe://example.org/extproc-authz'],
        dns: ['localhost'],
      })
      envoy = await issueLeaf(ca, { uris: ['spiffe://example.org/envoy'] })
      writeFileSync(join(dir, 'svid.pem'), server.certPem)
      writeFileSync(join(dir, 'svid_key.pem'), server.keyPem, { mode: 0o600 })
      writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
      ts = await startTestServer(
        `
tls:
  cert_file: ${join(dir, 'svid.pem')}
  key_file: ${join(dir, 'svid_key.pem')}
  bundles:
    example.org: ${join(dir, 'bundle.pem')}
  allowed_peers: [spiffe://example.org/envoy]
policy:
  rules:
    - name: healthz
      path: /healthz
      public: true
`,
        {
          transport: kind,
          observers: [
            {
              onDecision() {
                decisions++
              },
            },
          ],
        },
      )
    })
    after(async () => {
      await ts.close()
      rmSync(dir, { recursive: true, force: true })
    })

    const mtls = (leaf: Issued, chain: Issued[] = []): grpc.ChannelCredentials =>
      grpc.credentials.createSsl(
        Buffer.from(ca.certPem),
        Buffer.from(leaf.keyPem),
        Buffer.from([leaf.certPem, ...chain.map((c) => c.certPem)].join('\n')),
      )
    const TARGET = { 'grpc.ssl_target_name_override': 'localhost' }

    async function processCall(creds: grpc.ChannelCredentials, path: string) {
      const client = newClient(ts.port, creds, TARGET)
      try {
        return await exchange(client, [requestHeaders({ ':method': 'GET', ':path': path })], {
          deadlineMs: 5000,
        })
      } finally {
        client.close()
      }
    }

    /**
     * One Process stream on a raw HTTP/2 client over TLS: what came back before the connection
     * ended (a refused peer gets no response headers and no message).
     */
    function rawProcess(auth: {
      key?: string
      cert?: string
    }): Promise<{ status: number | undefined; bytes: number }> {
      return new Promise((resolve) => {
        const session = http2.connect(`https://localhost:${ts.port}`, {
          ca: ca.certPem,
          ...auth,
        })
        session.on('error', () => {})
        const req = session.request({
          ':method': 'POST',
          ':path': PROCESS_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
        })
        let status: number | undefined
        let bytes = 0
        req.on('response', (h) => {
          status = Number(h[':status'])
        })
        req.on('data', (c: Buffer) => {
          bytes += c.length
        })
        req.on('error', () => {})
        req.on('close', () => {
          session.destroy()
          resolve({ status, bytes })
        })
        req.end(grpcFrameOf(HEALTHZ))
      })
    }

    function healthClient(creds: grpc.ChannelCredentials): HealthStub {
      return new HealthClient(`127.0.0.1:${ts.port}`, creds, TARGET) as unknown as HealthStub
    }

    function check(creds: grpc.ChannelCredentials, service: string): Promise<string> {
      const client = healthClient(creds)
      return new Promise<string>((resolve) => {
        client.Check({ service }, (err, res) => {
          client.close()
          resolve(err ? `status ${grpc.status[err.code]}` : String(res?.status))
        })
      })
    }

    /** The first Watch message, or the status that ended the Watch. */
    function firstWatch(creds: grpc.ChannelCredentials): Promise<string> {
      const client = healthClient(creds)
      return new Promise<string>((resolve) => {
        const w = client.Watch({ service: '' })
        w.on('data', (m: { status: string }) => {
          resolve(m.status)
          w.cancel()
        })
        w.on('error', (err: grpc.ServiceError) => resolve(`status ${grpc.status[err.code]}`))
        w.on('status', () => client.close())
      })
    }

    test('refuses TLS 1.2: the handshake fails', async () => {
      const result = await new Promise<string>((resolve) => {
        const socket = tls.connect({
          port: ts.port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: ca.certPem,
          cert: envoy.certPem,
          key: envoy.keyPem,
          ALPNProtocols: ['h2'],
          maxVersion: 'TLSv1.2',
        })
        socket.on('secureConnect', () => {
          socket.destroy()
          resolve('connected')
        })
        socket.on('error', () => resolve('handshake failed'))
      })
      assert.equal(result, 'handshake failed')
      record('tls 1.2', result)
    })

    test('an Envoy SVID gets an allow answer and a deny answer', async () => {
      const admitted = ts.server.peerStats.admitted
      const allow = await processCall(mtls(envoy), '/healthz')
      assert.equal(allow.status.code, grpc.status.OK)
      assert.ok(allow.responses[0]?.request_headers, 'an allow')
      const deny = await processCall(mtls(envoy), '/admin')
      assert.equal(deny.status.code, grpc.status.OK)
      const summary = denyOf(deny.responses[0])
      assert.equal(summary.status, 403)
      assert.equal(summary.reason, 'no_matching_rule')
      assert.ok(ts.server.peerStats.admitted > admitted)
      record('allow and deny', { allow: 'request_headers', deny: [summary.status, summary.reason] })
    })

    // SPIRE with an upstream authority signs SVIDs with an intermediate: the client presents
    // leaf + intermediate, and the bundle holds the root only.
    test('admits an SVID issued by an intermediate CA (the chain is verified, not the leaf alone)', async () => {
      const intermediate = await issueIntermediate(ca, 'example.org intermediate')
      const leaf = await issueLeaf(intermediate, { uris: ['spiffe://example.org/envoy'] })
      const r = await processCall(mtls(leaf, [intermediate]), '/healthz')
      assert.equal(r.status.code, grpc.status.OK)
      assert.ok(r.responses[0]?.request_headers)
      record('intermediate CA', r.status.code)
    })

    test('refuses a wrong SPIFFE ID before any message: no answer, no decision, no Health answer', async () => {
      const intruder = await issueLeaf(ca, { uris: ['spiffe://example.org/intruder'] })
      const before = { decisions, refused: ts.server.peerStats.refused }
      const raw = await rawProcess({ key: intruder.keyPem, cert: intruder.certPem })
      assert.deepEqual(raw, { status: undefined, bytes: 0 })
      const call = await processCall(mtls(intruder), '/healthz')
      assert.equal(call.status.code, grpc.status.UNAVAILABLE)
      assert.equal(call.responses.length, 0)
      const health = {
        check: await check(mtls(intruder), ''),
        watch: await firstWatch(mtls(intruder)),
      }
      assert.deepEqual(health, { check: 'status UNAVAILABLE', watch: 'status UNAVAILABLE' })
      assert.equal(decisions, before.decisions, 'no stream of a refused peer was decided')
      assert.ok(ts.server.peerStats.refused >= before.refused + 4)
      assert.match(
        ts.logs.text(),
        /refused peer.*spiffe:\/\/example\.org\/intruder|spiffe:\/\/example\.org\/intruder.*refused peer/,
      )
      record('wrong SPIFFE ID', { raw, call: call.status.code, health })
    })

    test('refuses a TLS client without a certificate before any message', async () => {
      const before = decisions
      const raw = await rawProcess({})
      assert.deepEqual(raw, { status: undefined, bytes: 0 })
      const call = await processCall(
        grpc.credentials.createSsl(Buffer.from(ca.certPem)),
        '/healthz',
      )
      assert.equal(call.status.code, grpc.status.UNAVAILABLE)
      assert.equal(decisions, before)
      record('no certificate', { raw, call: call.status.code })
    })

    test('Health Check: SERVING for "" and the ext_proc service, NOT_FOUND for others, NOT_SERVING when draining', async () => {
      const creds = mtls(envoy)
      const answers = [
        await check(creds, ''),
        await check(creds, EXTPROC),
        await check(creds, 'other.Service'),
      ]
      ts.server.health.setServing(false)
      answers.push(await check(creds, ''))
      ts.server.health.setServing(true)
      assert.deepEqual(answers, ['SERVING', 'SERVING', 'status NOT_FOUND', 'NOT_SERVING'])
      record('health check', answers)
    })

    test('Health Watch: the status at once, then each change; cancel unsubscribes', async () => {
      const client = healthClient(mtls(envoy))
      const call = client.Watch({ service: '' })
      const statuses: string[] = []
      let wake: (() => void) | undefined
      call.on('data', (m: { status: string }) => {
        statuses.push(m.status)
        wake?.()
      })
      call.on('error', () => {})
      const ended = new Promise<grpc.StatusObject>((r) => call.on('status', r))
      const received = async (n: number) => {
        while (statuses.length < n) await new Promise<void>((r) => (wake = r))
      }
      await received(1)
      ts.server.health.setServing(false)
      await received(2)
      ts.server.health.setServing(true)
      await received(3)
      call.cancel()
      const status = await ended
      client.close()
      const end = Date.now() + 10_000
      while (ts.server.health.watchCount !== 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.deepEqual(statuses, ['SERVING', 'NOT_SERVING', 'SERVING'])
      assert.equal(status.code, grpc.status.CANCELLED)
      assert.equal(ts.server.health.watchCount, 0)
      record('health watch', statuses)
    })

    test('Health: a request over the 1 KiB bound is INVALID_ARGUMENT', async () => {
      // HealthCheckRequest { service = 1 } with a 2,000-byte name.
      const name = Buffer.alloc(2000, 'a')
      const request = Buffer.concat([Buffer.from([0x0a, 0xd0, 0x0f]), name])
      const client = new grpc.Client(`127.0.0.1:${ts.port}`, mtls(envoy), TARGET)
      const status = await new Promise<grpc.ServiceError | null>((resolve) => {
        client.makeUnaryRequest(
          '/grpc.health.v1.Health/Check',
          (b: Buffer) => b,
          (b: Buffer) => b,
          request,
          (err) => resolve(err),
        )
      })
      client.close()
      assert.equal(status?.code, grpc.status.INVALID_ARGUMENT)
      record('oversized health request', [status?.code, status?.details])
    })
  })
}

describe('transport parity: both transports', () => {
  test('answered every case alike', () => {
    assert.ok(Object.keys(outcomes.http2).length >= 8, 'every case ran on http2')
    assert.deepEqual(outcomes['grpc-js'], outcomes.http2)
  })
})
