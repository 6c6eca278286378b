// A minimal protobuf wire-format reader and writer: just what the ext_proc messages we read and
// write need. We decode only the fields authorization uses (headers, attributes, the oneof case)
// and skip everything else without materialising it, which is most of what a general decoder
// would spend per stream (see bench/ and docs/benchmarks.md).

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_LEN = 2
const WIRE_FIXED32 = 5

import { AuthzError } from './errors.js'

const SHIFTS = [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28]

/** Bytes that are not a well-formed protobuf message (the caller denies or drops them). */
export class WireError extends AuthzError {
  static readonly code = 'ERR_WIRE_MALFORMED'
  override readonly name = 'WireError'
  constructor(problem: string) {
    super(WireError.code, problem)
  }
}

/** Reads one protobuf message from `buf[start, end)`. */
export class WireReader {
  pos: number
  end: number
  /** End of the payload of the last field read by `lenDelimited()`. */
  fieldEnd = 0

  constructor(
    public buf: Uint8Array,
    start = 0,
    end: number = buf.length,
  ) {
    this.pos = start
    this.end = end
  }

  /**
   * Points this reader at another range. Small sub-messages read many times per request (header
   * fields, attribute entries) reuse one reader instead of allocating one each.
   */
  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf
    this.pos = start
    this.end = end
    this.fieldEnd = 0
    return this
  }

  done(): boolean {
    return this.pos >= this.end
  }

  /**
   * Reads a varint as an unsigned 32-bit value (tags, lengths, enums, bools). Higher bits of a
   * 64-bit varint are consumed and dropped, as protobuf does for uint32 fields.
   */
  uint32(): number {
    // Fast path: tags and short lengths (almost every varint we read) fit in one byte.
    if (this.pos < this.end) {
      const first = this.buf[this.pos] as number
      if (first < 0x80) {
        this.pos++
        return first
      }
    }
    let result = 0
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint')
      const b = this.buf[this.pos++] as number
      if (i < 5) result += (b & 0x7f) * (SHIFTS[i] as number)
      if ((b & 0x80) === 0) return result % 0x100000000
    }
    throw new WireError('varint longer than 10 bytes')
  }

  /**
   * Advances past a length-delimited field and returns where its payload starts; it ends at
   * `fieldEnd`. Not a [start, end] pair: this runs a dozen times per request, and the pairs were
   * the decoder's largest allocation.
   */
  lenDelimited(): number {
    const len = this.uint32()
    const start = this.pos
    const stop = start + len
    if (stop > this.end) throw new WireError('length-delimited field overruns message')
    this.pos = stop
    this.fieldEnd = stop
    return start
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32()
        return
      case WIRE_FIXED64:
        this.advance(8)
        return
      case WIRE_LEN:
        this.lenDelimited()
        return
      case WIRE_FIXED32:
        this.advance(4)
        return
      default:
        // Groups (3, 4) are not used by any proto3 message; anything else is corrupt.
        throw new WireError(`unsupported wire type ${wireType}`)
    }
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new WireError('truncated double')
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8)
    this.pos += 8
    return view.getFloat64(0, true)
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError('truncated fixed-width field')
    this.pos += n
  }
}

/**
 * The shape Envoy writes for a header (HeaderValue) and for a map entry: field 1 (length-
 * delimited, under 128 bytes) then field `valueField` (length-delimited, under 16 KiB), and
 * nothing else. Returns where the value starts (it ends at `end`; the key is buf[start + 2,
 * start + 2 + buf[start + 1])), or -1 for any other shape, which callers hand to the general
 * reader: a message of exactly this shape has one key and one value, so protobuf's
 * last-one-wins cannot give another answer.
 */
export function keyThenValueStart(
  buf: Uint8Array,
  start: number,
  end: number,
  valueField: number,
): number {
  if (end - start < 4 || buf[start] !== ((1 << 3) | WIRE_LEN)) return -1
  const keyLen = buf[start + 1] as number
  if (keyLen >= 0x80) return -1
  const tagAt = start + 2 + keyLen
  // The value's tag and at least one length byte after the key.
  if (tagAt + 2 > end || buf[tagAt] !== ((valueField << 3) | WIRE_LEN)) return -1
  const b0 = buf[tagAt + 1] as number
  if (b0 < 0x80) return tagAt + 2 + b0 === end ? tagAt + 2 : -1
  if (tagAt + 3 > end) return -1
  const b1 = buf[tagAt + 2] as number
  if (b1 >= 0x80) return -1
  return tagAt + 3 + ((b0 & 0x7f) | (b1 << 7)) === end ? tagAt + 3 : -1
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

/** Header keys and values are bytes; latin1 keeps every byte as one code unit, losslessly. */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  // Both transports hand us Buffers: slice to a string directly, without a view object.
  if (buf instanceof Buffer) return buf.toString('latin1', start, end)
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
}

export function utf8String(buf: Uint8Array, start: number, end: number): string {
  // Buffer decodes a range without a view object; both replace invalid UTF-8 with U+FFFD.
  if (buf instanceof Buffer) return buf.toString('utf8', start, end)
  return utf8.decode(buf.subarray(start, end))
}

const ONE_BYTE_VARINTS = Array.from({ length: 0x80 }, (_, i) => Uint8Array.of(i))

/**
 * Builds a message as a list of byte chunks. Nested messages are encoded into their own writer
 * first so their length is known; responses are small (a few hundred bytes), so this is cheap.
 */
export class WireWriter {
  private readonly chunks: Uint8Array[] = []
  private size = 0

  get length(): number {
    return this.size
  }

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes)
    this.size += bytes.length
  }

  private varint(value: number): void {
    if (value >= 0 && value < 0x80) {
      // Tags and most lengths: a shared one-byte chunk instead of a new array each time.
      this.push(ONE_BYTE_VARINTS[value] as Uint8Array)
      return
    }
    const out: number[] = []
    let v = value >>> 0
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80)
      v >>>= 7
    }
    out.push(v)
    this.push(Uint8Array.from(out))
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType)
  }

  uint32(field: number, value: number): this {
    if (value === 0) return this // proto3 default: not written
    this.tag(field, WIRE_VARINT)
    this.varint(value)
    return this
  }

  bool(field: number, value: boolean): this {
    return this.uint32(field, value ? 1 : 0)
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN)
    this.varint(value.length)
    this.push(value)
    return this
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'))
  }

  /** A string whose bytes are given as latin1 code units (header keys and values). */
  latin1(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'latin1'))
  }

  /** Bytes already encoded as whole fields (a cached answer, pre-encoded map entries). */
  raw(bytes: Uint8Array): this {
    this.push(bytes)
    return this
  }

  message(field: number, inner: WireWriter | Uint8Array): this {
    this.tag(field, WIRE_LEN)
    if (inner instanceof WireWriter) {
      this.varint(inner.size)
      for (const c of inner.chunks) this.push(c)
    } else {
      this.varint(inner.length)
      this.push(inner)
    }
    return this
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.size)
  }
}
