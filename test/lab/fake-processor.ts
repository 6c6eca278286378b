import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import { parse } from 'yaml'
import { encodeContinue } from '../../src/extproc/codec/processing-response.js'

// A deliberately wrong ext_proc processor, run by the local lab in the real one's place, to
// measure what Envoy does with each misbehaviour the real processor must never show:
//   ok-close      ends the stream with grpc-status 0 before answering request_headers
//   grpc-error    ends it with grpc-status 13 (INTERNAL)
//   out-of-order  answers request_headers with a response_headers response
// It serves the processor's TLS identity from the lab's processor config (same cert, same
// port), answers grpc.health.v1 SERVING, and never decides anything.
// Usage: node fake-processor.js --config FILE --mode MODE

const args = process.argv.slice(2)
const arg = (name: string): string => {
  const v = args[args.indexOf(name) + 1]
  if (!args.includes(name) || v === undefined)
    throw new Error(`fake-processor: ${name} is required`)
  return v
}
const mode = arg('--mode')
const config = parse(readFileSync(arg('--config'), 'utf8')) as {
  listen: string
  tls: { cert_file: string; key_file: string; bundles: Record<string, string> }
}
const [host = '', port = ''] = config.listen.split(':')

function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}

const server = http2.createSecureServer({
  cert: readFileSync(config.tls.cert_file),
  key: readFileSync(config.tls.key_file),
  ca: Object.values(config.tls.bundles).map((f) => readFileSync(f)),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
})
server.on('stream', (stream, headers) => {
  const path = headers[':path']
  stream.on('error', () => {})
  if (path === '/grpc.health.v1.Health/Check') {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    )
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(frame(Buffer.from([0x08, 0x01]))) // HealthCheckResponse { status: SERVING }
    return
  }
  // Process: wait for the first request message, then misbehave.
  stream.once('data', () => {
    if (mode === 'ok-close') {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
        { endStream: true },
      )
    } else if (mode === 'grpc-error') {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '13',
          'grpc-message': 'fake',
        },
        { endStream: true },
      )
    } else {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
      stream.write(frame(encodeContinue('response_headers')))
    }
  })
})
server.listen(Number(port), host, () => {
  process.stdout.write(
    `${JSON.stringify({ msg: 'fake processor serving', mode, port: Number(port) })}\n`,
  )
})
process.on('SIGTERM', () => process.exit(0))
