import type http2 from 'node:http2'
import {
  answerHealthCheck,
  BAD_HEALTH_REQUEST,
  type HealthState,
  MAX_HEALTH_REQUEST_BYTES,
} from '../../observe/health.js'
import { startHealthWatch } from '../../observe/health-watch.js'
import { GRPC_STATUS } from '../../shared/grpc-status.js'
import { encodeGrpcMessage } from './grpc-headers.js'
import { frameMessage, MessageReader } from './message-reader.js'

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

/** A Trailers-Only error answer. */
function respondError(
  stream: http2.ServerHttp2Stream,
  error: { readonly grpcStatus: number; readonly message: string },
): void {
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(error.grpcStatus),
      'grpc-message': encodeGrpcMessage(error.message),
    },
    { endStream: true },
  )
}

/** Response headers now, trailers with grpc-status 0 when the stream is ended. */
function respondOk(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GRPC_STATUS.OK) }))
}

/** grpc.health.v1.Health/Check on the lean transport (unary). */
export function serveHealthCheck(stream: http2.ServerHttp2Stream, state: HealthState): void {
  readRequest(stream, (request) => {
    const answer = request === undefined ? undefined : answerHealthCheck(request, state)
    if (answer === undefined) return respondError(stream, BAD_HEALTH_REQUEST)
    if (!answer.ok) return respondError(stream, answer)
    respondOk(stream)
    stream.end(frameMessage(answer.response))
  })
}

/** grpc.health.v1.Health/Watch on the lean transport (server streaming). */
export function serveHealthWatch(stream: http2.ServerHttp2Stream, state: HealthState): void {
  readRequest(stream, (request) => {
    if (request === undefined) return respondError(stream, BAD_HEALTH_REQUEST)
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
    if (!started.ok) return respondError(stream, started)
    // Client cancel (RST_STREAM) or connection loss: stop sending.
    stream.once('close', started.cancel)
  })
}
