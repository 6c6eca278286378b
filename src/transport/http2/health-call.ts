import type http2 from 'node:http2'
import { answerHealthCheck, type HealthState } from '../../observe/health.js'
import { startHealthWatch } from '../../observe/health-watch.js'
import { GRPC_STATUS } from '../../shared/grpc-status.js'
import { frameMessage, MessageReader } from './message-reader.js'

const MAX_HEALTH_REQUEST_BYTES = 1024 // a service name; anything larger is not a health check

/** Reads the one request message of a unary-request call; undefined if it is unreadable. */
function readRequest(
  stream: http2.ServerHttp2Stream,
  onRequest: (request: Uint8Array | undefined) => void,
): void {
  const reader = new MessageReader(MAX_HEALTH_REQUEST_BYTES)
  let request: Uint8Array | undefined
  let failed = false
  stream.on('data', (chunk: Buffer) => {
    try {
      // The reader hands out views of its buffer: copy the one we keep.
      reader.push(chunk, {
        push(m) {
          request ??= Buffer.from(m)
        },
      })
    } catch {
      failed = true
    }
  })
  stream.on('error', () => {})
  stream.on('end', () => {
    if (!stream.destroyed) onRequest(failed ? undefined : request)
  })
}

function respondError(stream: http2.ServerHttp2Stream, grpcStatus: number, message: string): void {
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': message,
    },
    { endStream: true },
  )
}

/** Response headers now, trailers with grpc-status 0 when the stream is ended. */
function respondOk(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
}

/** grpc.health.v1.Health/Check on the lean transport (unary). */
export function serveHealthCheck(stream: http2.ServerHttp2Stream, state: HealthState): void {
  readRequest(stream, (request) => {
    const answer = request === undefined ? undefined : answerHealthCheck(request, state)
    if (answer === undefined)
      return respondError(stream, GRPC_STATUS.INVALID_ARGUMENT, 'bad request')
    if (!answer.ok) return respondError(stream, answer.grpcStatus, answer.message)
    respondOk(stream)
    stream.end(frameMessage(answer.response))
  })
}

/** grpc.health.v1.Health/Watch on the lean transport (server streaming). */
export function serveHealthWatch(stream: http2.ServerHttp2Stream, state: HealthState): void {
  readRequest(stream, (request) => {
    if (request === undefined)
      return respondError(stream, GRPC_STATUS.INVALID_ARGUMENT, 'bad request')
    let headersSent = false
    const open = () => !stream.destroyed && !stream.closed && !stream.writableEnded
    const started = startHealthWatch(request, state, {
      send(response) {
        if (!open()) return
        if (!headersSent) {
          respondOk(stream)
          headersSent = true
        }
        stream.write(frameMessage(response))
      },
      end() {
        if (open()) stream.end()
      },
    })
    if (!started.ok) return respondError(stream, started.grpcStatus, started.message)
    // Client cancel (RST_STREAM) or connection loss: stop sending.
    stream.once('close', started.cancel)
  })
}
