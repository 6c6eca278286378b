/** Why a gRPC message stream could not be read: maps to a gRPC status in the trailers. */
export class FramingError extends Error {
  constructor(
    readonly grpcStatus: number,
    message: string,
  ) {
    super(message)
    this.name = 'FramingError'
  }
}

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const

const PREFIX = 5

/** Takes each complete message; the buffer is a view, valid only during the call. */
export interface MessageSink {
  push(message: Buffer): void
}

/**
 * Splits an HTTP/2 DATA byte stream into gRPC Length-Prefixed-Messages (1-byte compressed flag,
 * 4-byte big-endian length, payload). Messages may span chunks and chunks may hold many
 * messages. The length is checked against `maxMessageBytes` from the prefix alone, before any
 * payload is buffered, so an oversized message costs no memory.
 */
export class MessageReader {
  private pending: Buffer | undefined
  /** Payload length of the message being assembled, or -1 while reading a prefix. */
  private expected = -1

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Feeds one chunk; hands each complete message to `into.push` (a ProcessStream, directly: no
   * closure per call). Throws FramingError.
   */
  push(chunk: Buffer, into: MessageSink): void {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let at = 0
    for (;;) {
      if (this.expected < 0) {
        if (buf.length - at < PREFIX) break
        const flag = buf[at] as number
        if (flag !== 0) {
          // We announce no grpc-accept-encoding besides identity; a compressed message is a
          // client bug and decompressing untrusted input is work we refuse to do.
          throw new FramingError(
            flag === 1 ? GRPC_STATUS.UNIMPLEMENTED : GRPC_STATUS.INTERNAL,
            flag === 1 ? 'compressed messages are not supported' : 'invalid message flag',
          )
        }
        const length = buf.readUInt32BE(at + 1)
        if (length > this.maxMessageBytes) {
          throw new FramingError(
            GRPC_STATUS.RESOURCE_EXHAUSTED,
            `message of ${length} bytes exceeds the limit of ${this.maxMessageBytes}`,
          )
        }
        this.expected = length
        at += PREFIX
      }
      if (buf.length - at < this.expected) break
      // subarray, not a copy: the codec reads it synchronously and keeps no reference.
      const message = buf.subarray(at, at + this.expected)
      at += this.expected
      this.expected = -1
      into.push(message)
    }
    if (at < buf.length) {
      buf = buf.subarray(at)
      this.pending = buf
    }
  }

  /** True when the input ended in the middle of a message (a truncated stream). */
  partial(): boolean {
    return this.pending !== undefined || this.expected >= 0
  }
}

/** One framed message: prefix and payload in a single buffer, so it leaves in one DATA frame. */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length)
  out[0] = 0
  out.writeUInt32BE(message.length, 1)
  out.set(message, PREFIX)
  return out
}
