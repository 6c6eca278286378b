import * as http2 from 'node:http2'
import {
  ProcessStream,
  type ResponseSink,
  type StreamObserver,
} from '../../extproc/process-stream.js'
import type { SnapshotSource } from '../../extproc/snapshot.js'
import { GRPC_STATUS } from '../../shared/grpc-status.js'
import { encodeGrpcMessage, parseGrpcTimeout } from './grpc-headers.js'
import { FramingError, frameMessage, MessageReader } from './message-reader.js'

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
const OK_TRAILERS = Object.freeze({ 'grpc-status': String(GRPC_STATUS.OK) })
// No `date` header: gRPC clients never read it, and node:http2 would format and send one per
// response.
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false })
const END_STREAM = Object.freeze({ endStream: true, sendDate: false })

interface CallContext {
  readonly path: string
  readonly snapshots: SnapshotSource
  readonly observer: StreamObserver
  readonly maxMessageBytes: number
  /** Returns false when the stream is over the in-flight limit (answered 503 overloaded). */
  /** A stream asks for an admission slot: false refuses it (answered 503, never counted). */
  onStreamStart(): boolean | undefined
  /** An admitted stream gives its slot back: at its first answer, or when it ends unanswered. */
  onStreamEnd(): void
}

/** Answers a stream that is not ours (bad method, path, content-type) without a body. */
function refuseStream(
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
    END_STREAM,
  )
}

/** Where a stream's call state lives, so its listeners can be shared functions. */
const CALL = Symbol('extproc-authz.processCall')
type CallStream = http2.ServerHttp2Stream & { [CALL]?: ProcessCall }

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
  const call = new ProcessCall(stream, ctx, ctx.onStreamStart() !== false)
  ;(stream as CallStream)[CALL] = call
  if (timeoutMs !== undefined) call.startDeadline(timeoutMs)
  // Shared functions, not closures: a call costs one object, not one function per event.
  stream.on('data', onData)
  stream.on('end', onEnd)
  stream.on('close', onClose)
  stream.on('error', onError)
  stream.on('aborted', onAborted)
}

function onData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.data(chunk)
}
function onEnd(this: CallStream): void {
  this[CALL]?.inputEnded()
}
// 'close' comes once per stream, after trailers are flushed or on RST_STREAM / session loss.
function onClose(this: CallStream): void {
  const call = this[CALL]
  this[CALL] = undefined
  call?.closed()
}
function onError(): void {
  // Reset or session error: 'close' follows and cancels. Nothing to answer.
}
function onAborted(this: CallStream): void {
  if (this[CALL]?.finished === false && !this.destroyed) this.close(NGHTTP2_CANCEL)
}
function onDeadline(call: ProcessCall): void {
  call.fail(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded')
}

/** The state of one call; also the ProcessStream's sink for its answers. */
class ProcessCall implements ResponseSink {
  /** Our side is done (trailers queued or stream reset). */
  finished = false
  private timer: NodeJS.Timeout | undefined
  private readonly reader: MessageReader
  private readonly ps: ProcessStream
  /** Whether this call holds an admission slot: from admission until its first answer. */
  private holdsSlot: boolean

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly ctx: CallContext,
    admitted: boolean,
  ) {
    this.holdsSlot = admitted
    this.reader = new MessageReader(ctx.maxMessageBytes)
    this.ps = new ProcessStream(ctx.snapshots, this, ctx.observer, admitted)
  }

  /** Gives the admission slot back (once): the call has its answer, or is gone. */
  private releaseSlot(): void {
    if (!this.holdsSlot) return
    this.holdsSlot = false
    this.ctx.onStreamEnd()
  }

  startDeadline(ms: number): void {
    this.timer = setTimeout(onDeadline, ms, this)
    this.timer.unref()
  }

  send(message: Buffer): void {
    // Decided: what the stream does from now on costs no decision, so it no longer counts
    // against limits.max_streams (Envoy keeps an allowed stream open for the whole request).
    this.releaseSlot()
    const stream = this.stream
    if (this.finished || stream.destroyed) return
    if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS)
    if (!stream.write(framed(message))) {
      stream.pause()
      stream.once('drain', () => stream.resume())
    }
  }

  end(): void {
    if (this.finished) return
    this.finished = true
    this.release()
    const stream = this.stream
    if (stream.destroyed) return
    if (!stream.headersSent) {
      stream.respond({ ...RESPONSE_HEADERS, ...OK_TRAILERS }, END_STREAM)
      return
    }
    stream.on('wantTrailers', sendOkTrailers) // comes once; `once` would wrap it per call
    stream.end()
  }

  fail(status: number, message: string): void {
    if (this.finished) return
    this.finished = true
    this.release()
    this.ps.cancel()
    const stream = this.stream
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

  data(chunk: Buffer): void {
    if (this.finished) return
    try {
      this.reader.push(chunk, this.ps)
    } catch (err) {
      if (err instanceof FramingError) this.fail(err.grpcStatus, err.message)
      else this.fail(GRPC_STATUS.INTERNAL, 'internal error')
    }
  }

  inputEnded(): void {
    if (this.finished) return
    if (this.reader.partial()) {
      this.fail(GRPC_STATUS.INTERNAL, 'stream ended inside a message')
      return
    }
    this.ps.endOfInput()
  }

  closed(): void {
    this.release()
    if (!this.finished) {
      this.finished = true
      this.ps.cancel()
    }
    this.releaseSlot()
  }

  private release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * The framed form of the last answer sent. Allow answers are memoized by the Responder, so
 * consecutive streams mostly send the same Buffer; node:http2 only reads what it writes.
 */
let lastAnswer: Buffer | undefined
let lastFramed: Buffer | undefined
function framed(message: Buffer): Buffer {
  if (message !== lastAnswer) {
    lastAnswer = message
    lastFramed = frameMessage(message)
  }
  return lastFramed as Buffer
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS)
}
