import * as http2 from 'node:http2'
import { encodeContinue } from '../src/extproc/codec/processing-response.js'

/**
 * The floor: node:http2 with the least gRPC framing that works. Answers the first message with
 * a CONTINUE without decoding it, ends with grpc-status 0 when the client half-closes.
 */
export function startNoopHttp2(port = 0): Promise<number> {
  const body = encodeContinue('request_headers')
  const frame = Buffer.alloc(5 + body.length)
  frame.writeUInt32BE(body.length, 1)
  body.copy(frame, 5)
  const headers = { ':status': 200, 'content-type': 'application/grpc' }
  const trailers = { 'grpc-status': '0' }
  const server = http2.createServer({
    settings: { maxConcurrentStreams: 10_000, initialWindowSize: 1024 * 1024 },
  })
  server.on('stream', (stream) => {
    let answered = false
    stream.on('data', () => {
      if (answered || stream.destroyed) return
      answered = true
      stream.respond(headers, { waitForTrailers: true })
      stream.write(frame)
    })
    stream.on('end', () => {
      if (stream.destroyed) return // the client reset it (h2load does when it stops)
      if (!answered) stream.respond(headers, { waitForTrailers: true })
      stream.once('wantTrailers', () => stream.sendTrailers(trailers))
      stream.end()
    })
    stream.on('error', () => {})
  })
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const a = server.address()
      resolve(typeof a === 'object' && a !== null ? a.port : port)
    })
  })
}
