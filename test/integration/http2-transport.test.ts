import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import * as http2 from 'node:http2'
import { after, before, describe, test } from 'node:test'
import type { PeerCertificate } from 'node:tls'
import { makeTlsFiles } from '../../bench/tls-files.js'
import { buildSnapshot } from '../../src/app/build-snapshot.js'
import { parseConfig } from '../../src/config/load-config.js'
import { SnapshotHolder } from '../../src/extproc/snapshot.js'
import type { Transport } from '../../src/transport/contract.js'
import { frameMessage } from '../../src/transport/http2/message-reader.js'
import { startHttp2Transport } from '../../src/transport/http2/serve-http2.js'
import { grpcFrameOf } from '../helpers/grpc-frame.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'
import { waitUntil } from '../helpers/wait-until.js'

const CONFIG = `
policy:
  rules:
    - name: healthz
      path: /healthz
      public: true
`
const PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process'
const HEALTHZ = { ':method': 'GET', ':path': '/healthz', ':authority': 'a', ':scheme': 'https' }

interface RawResult {
  status: number | undefined
  headers: http2.IncomingHttpHeaders
  trailers: http2.IncomingHttpHeaders
  data: Buffer
}

/** One raw HTTP/2 request; resolves when the stream closes. */
function raw(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | undefined,
  end = true,
): { done: Promise<RawResult>; req: http2.ClientHttp2Stream } {
  const req = session.request(
    {
      ':method': 'POST',
      ':path': PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    },
    { endStream: false },
  )
  const chunks: Buffer[] = []
  const result: RawResult = { status: undefined, headers: {}, trailers: {}, data: Buffer.alloc(0) }
  const done = new Promise<RawResult>((resolve) => {
    // Like a gRPC client: once the status arrives the call is over, even if we were still
    // sending, so reset our half (the server has ended its own).
    const over = () => {
      if (!req.writableEnded) req.close(http2.constants.NGHTTP2_CANCEL)
    }
    req.on('response', (h) => {
      result.headers = h
      result.status = Number(h[':status'])
      if (h['grpc-status'] !== undefined) over()
    })
    req.on('trailers', (t) => {
      result.trailers = t
      over()
    })
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => {})
    req.on('close', () => {
      result.data = Buffer.concat(chunks)
      resolve(result)
    })
  })
  if (body !== undefined) req.write(body)
  if (end) req.end()
  return { done, req }
}

/** grpc-status from trailers, or from the headers of a Trailers-Only response. */
const grpcStatus = (r: RawResult) => String(r.trailers['grpc-status'] ?? r.headers['grpc-status'])
const grpcMessage = (r: RawResult) =>
  decodeURIComponent(String(r.trailers['grpc-message'] ?? r.headers['grpc-message'] ?? ''))

describe('lean HTTP/2 transport: gRPC protocol edges', () => {
  let srv: TestServer
  let session: http2.ClientHttp2Session
  before(async () => {
    srv = await startTestServer(CONFIG, { transport: 'http2' })
    session = http2.connect(`http://127.0.0.1:${srv.port}`)
  })
  after(async () => {
    session.close()
    await srv.close()
  })

  test('an allow: headers, one message, grpc-status 0 in trailers', async () => {
    const r = await raw(session, {}, grpcFrameOf(HEALTHZ)).done
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/grpc')
    assert.equal(grpcStatus(r), '0')
    assert.equal(r.data[0], 0)
    assert.equal(r.data.readUInt32BE(1), r.data.length - 5)
  })

  test('a compressed message: Trailers-Only UNIMPLEMENTED', async () => {
    const frame = grpcFrameOf(HEALTHZ)
    frame[0] = 1
    const r = await raw(session, { 'grpc-encoding': 'gzip' }, frame).done
    assert.equal(grpcStatus(r), '12')
    assert.match(grpcMessage(r), /compressed/)
    assert.equal(r.data.length, 0)
    assert.equal(r.trailers['grpc-status'], undefined, 'status rides in the only HEADERS frame')
  })

  test('a message over the size limit: RESOURCE_EXHAUSTED without reading it', async () => {
    const r = await raw(session, {}, Buffer.from([0, 0x7f, 0xff, 0xff, 0xff])).done
    assert.equal(grpcStatus(r), '8')
  })

  test('input ending inside a message: INTERNAL', async () => {
    const r = await raw(session, {}, grpcFrameOf(HEALTHZ).subarray(0, 20)).done
    assert.equal(grpcStatus(r), '13')
  })

  test('unknown method path: UNIMPLEMENTED; not gRPC: HTTP 415', async () => {
    const r = await raw(session, { ':path': '/some.other.v1.Service/Method' }, undefined).done
    assert.equal(grpcStatus(r), '12')
    const h = await raw(session, { 'content-type': 'application/json' }, undefined).done
    assert.equal(h.status, 415)
  })

  test('grpc-timeout: an unanswered stream ends DEADLINE_EXCEEDED; malformed is INTERNAL', async () => {
    // An allow does not end the stream (Envoy may send more phases): the deadline ends it.
    const started = Date.now()
    const r = await raw(session, { 'grpc-timeout': '100m' }, grpcFrameOf(HEALTHZ), false).done
    assert.equal(grpcStatus(r), '4')
    assert.ok(Date.now() - started >= 90)
    assert.ok(r.data.length > 5, 'the allow was sent before the deadline')
    const bad = await raw(session, { 'grpc-timeout': '1.5S' }, grpcFrameOf(HEALTHZ)).done
    assert.equal(grpcStatus(bad), '13')
  })

  test('RST_STREAM from the client cancels the stream and leaves nothing behind', async () => {
    // Undecided streams (half a message each) hold admission slots until they end.
    const half = grpcFrameOf(HEALTHZ).subarray(0, 10)
    const pending = Array.from({ length: 20 }, () => raw(session, {}, half, false))
    await waitUntil(() => srv.server.activeStreams() === 20, '20 open streams')
    for (const p of pending) p.req.close(http2.constants.NGHTTP2_CANCEL)
    await Promise.all(pending.map((p) => p.done))
    await waitUntil(() => srv.server.activeStreams() === 0, 'the cancelled streams to go')
    assert.equal(grpcStatus(await raw(session, {}, grpcFrameOf(HEALTHZ)).done), '0')
  })

  test('300 messages on one stream: 300 answers, in order, then OK', async () => {
    const frames = Buffer.concat(
      Array.from({ length: 300 }, (_, i) => (i === 0 ? grpcFrameOf(HEALTHZ) : continueBody())),
    )
    const r = await raw(session, {}, frames).done
    assert.equal(grpcStatus(r), '0')
    const tags: number[] = []
    for (let at = 0; at < r.data.length; at += 5 + r.data.readUInt32BE(at + 1)) {
      tags.push(r.data[at + 5] as number)
    }
    assert.equal(tags.length, 300)
    assert.equal(tags[0], 0x0a) // request_headers answer
    assert.ok(tags.slice(1).every((t) => t === 0x1a)) // request_body (field 3) answers
  })
})

/** A request_body message (field 4, empty HttpBody): answered with a body CONTINUE. */
function continueBody(): Buffer {
  return frameMessage(Buffer.from([0x22, 0x00]))
}

describe('lean HTTP/2 transport over TLS: the verifyPeer hook', () => {
  let dir: string
  let transport: Transport
  let key: Buffer
  let cert: Buffer
  const seen: Array<PeerCertificate | undefined> = []
  let allow = true

  before(async () => {
    // The benchmark's throwaway self-signed localhost certificate (made by the openssl CLI).
    ;({ dir, key, cert } = makeTlsFiles())
    transport = await startHttp2Transport({
      listen: '127.0.0.1:0',
      snapshots: new SnapshotHolder(buildSnapshot(parseConfig(CONFIG, 't.yaml'))),
      observer: { onDecision() {} },
      maxMessageBytes: 1 << 20,
      tls: {
        key,
        cert,
        ca: cert,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      verifyPeer: (chain) => {
        seen.push(chain)
        return allow
      },
    })
  })
  after(async () => {
    await transport.close(500)
    rmSync(dir, { recursive: true, force: true })
  })

  function connect(): http2.ClientHttp2Session {
    const s = http2.connect(`https://localhost:${transport.port}`, { ca: cert, key, cert })
    s.on('error', () => {})
    return s
  }

  test('an accepted peer is served; the hook saw its certificate chain', async () => {
    allow = true
    const s = connect()
    const r = await raw(s, {}, grpcFrameOf(HEALTHZ)).done
    s.close()
    assert.equal(grpcStatus(r), '0')
    assert.match(
      String(seen.at(-1)?.subjectaltname),
      /URI:spiffe:\/\/example.org\/ns\/prod\/sa\/envoy/,
    )
  })

  test('a refused peer gets no stream processed', async () => {
    allow = false
    const s = connect()
    const r = await raw(s, {}, grpcFrameOf(HEALTHZ)).done
    s.close()
    assert.equal(r.status, undefined)
    assert.equal(r.data.length, 0)
  })
})
