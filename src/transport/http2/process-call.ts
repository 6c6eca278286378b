import * as http2 from 'node:http2'
import { ProcessStream, type StreamObserver } from '../../extproc/process-stream.js'
import type { SnapshotSource } from '../../extproc/snapshot.js'
import { encodeGrpcMessage, parseGrpcTimeout } from './grpc-headers.js'
import { FramingError, frameMessage, GRPC_STATUS, MessageReader } from './message-reader.js'

const {
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  NGHTTP2_CANCEL,
} = http2.constants

// Built once: node:http2 copies header objects into nghttp2, so they can be shared.
const RESPONSE_HEADERS = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  'grpc-accept-encoding': 'identity',
})
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' })
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true })

export interface CallContext {
  readonly path: string
  readonly snapshots: SnapshotSource
  readonly observer: StreamObserver
  readonly maxMessageBytes: number
  /** Returns false when the stream is over the in-flight limit (answered 503 overloaded). */
  onStreamStart(): boolean | undefined
  onStreamEnd(): void
}

/** Answers a stream that is not ours (bad method, path, content-type) without a body. */
export function refuseStream(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  path: string,
): void {
  const ct = headers[HTTP2_HEADER_CONTENT_TYPE]
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
    // Not gRPC at all: the gRPC spec asks for a plain HTTP 415.
    stream.respond({ [HTTP2_HEADER_STATUS]: 415 }, { endStream: true })
    return
  }
  const status =
    headers[HTTP2_HEADER_METHOD] !== 'POST' ? GRPC_STATUS.INTERNAL : GRPC_STATUS.UNIMPLEMENTED
  const reason =
    status === GRPC_STATUS.INTERNAL
      ? 'gRPC requires POST'
      : `unknown method; this port serves ${path}`
  respondTrailersOnly(stream, status, reason)
}

/** A Trailers-Only response: the status rides in the only HEADERS frame, which ends the stream. */
function respondTrailersOnly(stream: http2.ServerHttp2Stream, status: number, message: string) {
  if (stream.destroyed || stream.headersSent) return
  stream.respond(
    {
      ...RESPONSE_HEADERS,
      'grpc-status': String(status),
      'grpc-message': encodeGrpcMessage(message),
    },
    { endStream: true },
  )
}

/**
 * One Process call on node:http2: de-frames messages into a ProcessStream and frames its answers.
 * Response headers are sent lazily with the first answer, so an error before any answer is a
 * Trailers-Only response. Backpressure: when the client stops reading, we stop reading too,
 * and HTTP/2 flow control pushes back on its writes.
 */
export function serveProcessCall(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  ctx: CallContext,
): void {
  if (headers[HTTP2_HEADER_PATH] !== ctx.path || headers[HTTP2_HEADER_METHOD] !== 'POST') {
    refuseStream(stream, headers, ctx.path)
    return
  }
  const ct = headers[HTTP2_HEADER_CONTENT_TYPE]
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
    refuseStream(stream, headers, ctx.path)
    return
  }
  const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'])
  if (timeoutMs !== undefined && Number.isNaN(timeoutMs)) {
    respondTrailersOnly(stream, GRPC_STATUS.INTERNAL, 'malformed grpc-timeout')
    return
  }

  const admitted = ctx.onStreamStart() !== false
  let finished = false // our side is done (trailers queued or stream reset)
  let timer: NodeJS.Timeout | undefined
  const reader = new MessageReader(ctx.maxMessageBytes)

  const release = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  const fail = (status: number, message: string) => {
    if (finished) return
    finished = true
    release()
    ps.cancel()
    if (!stream.headersSent) {
      respondTrailersOnly(stream, status, message)
    } else if (!stream.destroyed) {
      stream.once('wantTrailers', () => {
        stream.sendTrailers({
          'grpc-status': String(status),
          'grpc-message': encodeGrpcMessage(message),
        })
      })
      stream.end()
    }
  }

  const ps = new ProcessStream(
    ctx.snapshots,
    {
      send(message) {
        if (finished || stream.destroyed) return
        if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS)
        if (!stream.write(frameMessage(message))) {
          stream.pause()
          stream.once('drain', () => stream.resume())
        }
      },
      end() {
        if (finished) return
        finished = true
        release()
        if (stream.destroyed) return
        if (!stream.headersSent) {
          stream.respond({ ...RESPONSE_HEADERS, ...OK_TRAILERS }, { endStream: true })
          return
        }
        stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS))
        stream.end()
      },
    },
    ctx.observer,
    admitted,
  )

  if (timeoutMs !== undefined) {
    timer = setTimeout(() => fail(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded'), timeoutMs)
    timer.unref()
  }

  stream.on('data', (chunk: Buffer) => {
    if (finished) return
    try {
      reader.push(chunk, (m) => ps.push(m))
    } catch (err) {
      if (err instanceof FramingError) fail(err.grpcStatus, err.message)
      else fail(GRPC_STATUS.INTERNAL, 'internal error')
    }
  })
  stream.on('end', () => {
    if (finished) return
    if (reader.partial()) {
      fail(GRPC_STATUS.INTERNAL, 'stream ended inside a message')
      return
    }
    ps.endOfInput()
  })
  // 'close' comes once per stream, after trailers are flushed or on RST_STREAM / session loss.
  stream.on('close', () => {
    release()
    if (!finished) {
      finished = true
      ps.cancel()
    }
    ctx.onStreamEnd()
  })
  stream.on('error', () => {
    // Reset or session error: 'close' follows and cancels. Nothing to answer.
  })
  stream.on('aborted', () => {
    if (!finished && !stream.destroyed) stream.close(NGHTTP2_CANCEL)
  })
}
