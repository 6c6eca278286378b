import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { envoySkip } from '../helpers/envoy.js'
import { grpcFrameOf } from '../helpers/grpc-frame.js'
import { LAB_SESSION } from './cases.js'
import { registerFailClosedCases, unique } from './fail-closed-cases.js'
import { labRequest, type Svid } from './https-client.js'
import { type LocalLabControl, startLocalLab } from './local.js'

// The lab's shared cases through real Envoy (the pinned version) on the shipped envoy.yaml,
// with the processor as a local process: what `make lab-local` runs, asserted.

describe('local lab: fail closed through real Envoy', {
  skip: envoySkip,
  timeout: 10 * 60_000,
}, () => {
  let lab: LocalLabControl
  before(async () => {
    lab = await startLocalLab('fail-closed')
  })
  after(async () => {
    await lab?.close()
  })
  registerFailClosedCases(() => lab)
})

describe('local lab: what Envoy answers before the processor, and bad files while serving', {
  skip: envoySkip,
  timeout: 10 * 60_000,
}, () => {
  let l: LocalLabControl
  before(async () => {
    l = await startLocalLab('edge')
  })
  after(async () => {
    await l?.close()
  })
  const get = (path: string, more: Partial<Parameters<typeof labRequest>[0]> = {}) =>
    labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path, ...more })
  /** Sends, asserts `reached` upstream hits, returns the answer and Envoy's details. */
  async function send(reached: number, path: string, more: Parameters<typeof get>[1] = {}) {
    const before = l.lab.upstream.count()
    const res = await get(path, more)
    const details = await l.details(path)
    assert.equal(l.lab.upstream.count(), before + reached, `${res.status} ${details}`)
    return { res, details }
  }

  /** For requests Envoy's codec refuses (no path logged): the next access-log line. */
  async function sendUnparsed(path: string, more: Parameters<typeof get>[1]) {
    const before = l.lab.upstream.count()
    const from = l.lab.envoy.mark()
    const status = await get(path, more).then(
      (r) => r.status,
      // Envoy may close the connection while the client still writes the request.
      (err: NodeJS.ErrnoException) => `no answer (${err.code ?? err.message})`,
    )
    const line = await l.lab.accessLogLine(() => true, from)
    assert.equal(l.lab.upstream.count(), before, 'nothing reached the upstream')
    return { status, line }
  }

  test('a header with an underscore (x_spiffe_id) is refused by Envoy: 400, reaches nothing', async () => {
    const { status, line } = await sendUnparsed(unique('/api/hello'), {
      headers: { x_spiffe_id: 'spiffe://example.org/ns/prod/sa/admin' },
    })
    assert.equal(status, 400)
    assert.equal(line.status, 400)
    assert.equal(line.details, 'http1.unexpected_underscore')
  })

  test('an escaped slash (%2F) is refused by Envoy: 400 path_normalization_failed, reaches nothing', async () => {
    const { res, details } = await send(0, unique('/api/a%2F..%2Finternal'))
    assert.equal(res.status, 400)
    assert.equal(details, 'path_normalization_failed')
  })

  test('dot segments are resolved by Envoy before the processor decides: /api/../internal is 403', async () => {
    const { res, details } = await send(0, unique('/api/../internal/metrics'))
    assert.equal(res.status, 403, res.body)
    assert.equal(res.json().reason, 'no_matching_rule')
    assert.equal(details, 'extproc_authz_no_matching_rule')
  })

  test('merged slashes: //api//hello is decided and routed as /api/hello', async () => {
    const { res } = await send(1, unique('//api//hello'))
    assert.equal(res.status, 200, res.body)
    assert.match(String(res.json().path), /^\/api\/hello\?/)
  })

  test('headers over Envoy limit (60 KiB): 431 http1.headers_too_large from Envoy, reaches nothing', async (t) => {
    const { status, line } = await sendUnparsed(unique('/api/hello'), {
      headers: { 'x-big': 'a'.repeat(70 * 1024) },
    })
    t.diagnostic(`client saw ${status}`)
    assert.equal(line.status, 431)
    assert.equal(line.details, 'http1.headers_too_large')
  })

  test("Envoy's admin interface listens on loopback only", () => {
    assert.match(l.lab.envoyAdmin, /^127\.0\.0\.1:\d+$/)
  })

  test('the processor refuses a channel client that is not Envoy (the runner SVID)', async () => {
    const p = l.lab.processor(0)
    const outcome = await processCallAs(p.port, l.ca, l.runner)
    assert.notEqual(outcome, 'answered', 'a non-Envoy peer got a ProcessingResponse')
    const asEnvoy = await processCallAs(p.port, l.ca, {
      cert: l.lab.file('envoy.pem'),
      key: l.lab.file('envoy-key.pem'),
    })
    assert.equal(asEnvoy, 'answered', 'the same call as Envoy is answered (the probe works)')
  })

  test('a bad policy, runner key or serving certificate written while serving: the last good state keeps deciding', async () => {
    const p = l.lab.processor(0)
    const token = l.token(LAB_SESSION)
    const decidesAsBefore = async () => {
      assert.equal((await send(1, unique('/api/hello'))).res.status, 200)
      assert.equal((await send(0, unique('/api/hello'), { svid: l.other })).res.status, 403)
      const s = await send(1, unique(`/api/sessions/${LAB_SESSION}/logs`), { bearer: token })
      assert.equal(s.res.status, 200, s.res.body)
    }
    const refusedAfter = async (file: string, bad: string, log: RegExp) => {
      const good = readFileSync(file)
      const from = p.proc.mark()
      writeFileSync(file, bad)
      try {
        await p.proc.waitFor(log, 30_000, from)
        await decidesAsBefore()
      } finally {
        writeFileSync(file, good)
      }
    }
    await decidesAsBefore()
    await refusedAfter(p.configFile, 'policy: [unclosed\n', /config not reloaded|refus/i)
    await refusedAfter(join(l.lab.keyDir, 'private.pem'), 'not a key\n', /keys not reloaded|refus/i)
    await refusedAfter(
      join(l.lab.certDir, 'processor.pem'),
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      /not \(yet\) usable|keeping the working|refus/i,
    )
    await decidesAsBefore()
  })
})

/** One Process call on the processor's channel as `svid`: answered, refused, or failed. */
async function processCallAs(port: number, ca: string, svid: Svid): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      ca,
      cert: svid.cert,
      key: svid.key,
      servername: 'extproc-authz',
    })
    const done = (outcome: string) => {
      session.close()
      session.destroy()
      resolve(outcome)
    }
    session.on('error', (err) => done(`session error ${err.message}`))
    const stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
      'content-type': 'application/grpc',
      te: 'trailers',
    })
    let answered = false
    stream.on('data', () => {
      answered = true
    })
    stream.on('trailers', (trailers) => {
      if (!answered) done(`refused grpc-status ${trailers['grpc-status']}`)
    })
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined && headers['grpc-status'] !== '0') {
        done(`refused grpc-status ${headers['grpc-status']}`)
      }
    })
    stream.on('error', (err) => done(`stream error ${err.message}`))
    stream.on('close', () => done(answered ? 'answered' : 'closed'))
    stream.end(grpcFrameOf({ ':method': 'GET', ':path': '/healthz', ':authority': 'x' }))
    setTimeout(() => done('timed out'), 10_000).unref()
  })
}
