import type http2 from 'node:http2'
import { answerHealthCheck, type HealthState } from '../../observe/health.js'
import { frameMessage, MessageReader } from './message-reader.js'

const MAX_HEALTH_REQUEST_BYTES = 1024 // a service name; anything larger is not a health check

/** grpc.health.v1.Health/Check on the lean transport (unary). */
export function serveHealthCheck(stream: http2.ServerHttp2Stream, state: HealthState): void {
  const reader = new MessageReader(MAX_HEALTH_REQUEST_BYTES)
  let request: Uint8Array | undefined
  let failed = false
  stream.on('data', (chunk: Buffer) => {
    try {
      // The reader hands out views of its buffer: copy the one we keep.
      reader.push(chunk, (m) => {
        request ??= Buffer.from(m)
      })
    } catch {
      failed = true
    }
  })
  stream.on('error', () => {})
  stream.on('end', () => {
    if (stream.destroyed) return
    const answer = failed || request === undefined ? undefined : answerHealthCheck(request, state)
    if (answer?.ok) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      )
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(frameMessage(answer.response))
    } else {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(answer?.ok === false ? answer.grpcStatus : 3),
          'grpc-message': answer?.ok === false ? answer.message : 'bad request',
        },
        { endStream: true },
      )
    }
  })
}
