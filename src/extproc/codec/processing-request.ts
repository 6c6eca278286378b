import { AuthzError } from '../../shared/errors.js'
import {
  keyThenValueStart,
  latin1,
  WIRE_LEN,
  WireError,
  WireReader,
} from '../../shared/protobuf-wire.js'
import {
  type AttributeValue,
  decodeAttributesEntry,
  releaseAttributeReaders,
} from './attributes.js'
import type { DecodeSelection, NameSet } from './name-set.js'

// Field numbers from envoy/service/ext_proc/v3/external_processor.proto and
// envoy/config/core/v3/base.proto, google/protobuf/struct.proto.
const PHASES = [
  undefined,
  undefined, // 1: reserved (async_mode)
  'request_headers', // 2: HttpHeaders
  'response_headers', // 3: HttpHeaders
  'request_body', // 4: HttpBody
  'response_body', // 5: HttpBody
  'request_trailers', // 6: HttpTrailers
  'response_trailers', // 7: HttpTrailers
] as const
const FIELD_ATTRIBUTES = 9 // map<string, google.protobuf.Struct>

// Decoding is synchronous and each level of the message has its own reader, so one per level
// is reused instead of allocating one per message and header.
const EMPTY = new Uint8Array(0)
const TOP_READER = new WireReader(EMPTY)
const HTTP_HEADERS_READER = new WireReader(EMPTY)
const HEADER_MAP_READER = new WireReader(EMPTY)
const HEADER_READER = new WireReader(EMPTY)
const BODY_READER = new WireReader(EMPTY)
const READERS = [TOP_READER, HTTP_HEADERS_READER, HEADER_MAP_READER, HEADER_READER, BODY_READER]

export type Phase = Exclude<(typeof PHASES)[number], undefined>

export interface HeaderField {
  /** Lower-case header name as Envoy sends it (pseudo-headers start with ':'). */
  readonly name: string
  /** The value's bytes as latin1 code units: `raw_value` when present, else the older `value`. */
  readonly value: string
}

export interface DecodedProcessingRequest {
  phase: Phase | undefined
  /**
   * Header fields of a request_headers/response_headers message, in order, duplicates kept;
   * with a selection, only the selected ones (limits still count every field).
   */
  headers: HeaderField[]
  /** Fields in the header map, selected or not. */
  headerCount: number
  /** Encoded bytes of every header field (bounds name and value bytes). */
  headerBytes: number
  /** `attributes["envoy.filters.http.ext_proc"]`, present only on the first message of a direction. */
  attributes: Map<string, AttributeValue> | undefined
}

export interface DecodeLimits {
  /** Header fields read from one message; more is a LimitExceededError. */
  readonly maxHeaders: number
  /** Bytes of header names and values read from one message. */
  readonly maxHeaderBytes: number
  /** Time allowed before request_headers arrives (slowloris bound); default 10 s. */
  readonly streamIdleTimeoutMs?: number
}

/** Raised when a message carries more header data than the configured limits allow. */
export class LimitExceededError extends AuthzError {
  static readonly code = 'ERR_LIMIT_EXCEEDED'
  override readonly name = 'LimitExceededError'
  constructor(problem: string) {
    super(LimitExceededError.code, problem)
  }
}

/**
 * Decodes the fields authorization uses. With `select`, header values and attribute values
 * are decoded only for the selected names; the others are still bounded by `limits` but never
 * become strings.
 */
export function decodeProcessingRequest(
  buf: Uint8Array,
  limits: DecodeLimits,
  select?: DecodeSelection,
): DecodedProcessingRequest {
  const out: DecodedProcessingRequest = {
    phase: undefined,
    headers: [],
    headerCount: 0,
    headerBytes: 0,
    attributes: undefined,
  }
  try {
    decodeTopLevel(buf, out, limits, select)
  } finally {
    // The shared readers must not keep the message (it may hold a token) alive.
    for (const r of READERS) r.reset(EMPTY, 0, 0)
    releaseAttributeReaders()
  }
  return out
}

function decodeTopLevel(
  buf: Uint8Array,
  out: DecodedProcessingRequest,
  limits: DecodeLimits,
  select: DecodeSelection | undefined,
): void {
  const r = TOP_READER.reset(buf, 0, buf.length)
  while (!r.done()) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wt = tag & 7
    if (field >= 2 && field <= 7 && wt === WIRE_LEN) {
      // A oneof: the last one on the wire wins, as in every protobuf decoder.
      const phase = PHASES[field] as Phase
      const s = r.lenDelimited()
      const e = r.fieldEnd
      out.phase = phase
      out.headers = []
      out.headerCount = 0
      out.headerBytes = 0
      if (field <= 3) decodeHttpHeaders(buf, s, e, out, limits, select?.headers)
      else if (field <= 5) walkBody(buf, s, e)
    } else if (field === FIELD_ATTRIBUTES && wt === WIRE_LEN) {
      const s = r.lenDelimited()
      decodeAttributesEntry(buf, s, r.fieldEnd, out, select?.attributes)
    } else {
      r.skip(wt)
    }
  }
}

// HttpHeaders { HeaderMap headers = 1; map attributes = 2 (deprecated); bool end_of_stream = 3; }
// Only the header map is read.
function decodeHttpHeaders(
  buf: Uint8Array,
  start: number,
  end: number,
  out: DecodedProcessingRequest,
  limits: DecodeLimits,
  only: NameSet | undefined,
): void {
  const r = HTTP_HEADERS_READER.reset(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const s = r.lenDelimited()
      decodeHeaderMap(buf, s, r.fieldEnd, out, limits, only)
    } else {
      r.skip(tag & 7)
    }
  }
}

// HeaderMap { repeated HeaderValue headers = 1; }
function decodeHeaderMap(
  buf: Uint8Array,
  start: number,
  end: number,
  out: DecodedProcessingRequest,
  limits: DecodeLimits,
  only: NameSet | undefined,
): void {
  const r = HEADER_MAP_READER.reset(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      r.skip(tag & 7)
      continue
    }
    const len = r.uint32()
    const s = r.pos
    const e = s + len
    if (e > r.end) throw new WireError('length-delimited field overruns message')
    r.pos = e
    // Bound the work before decoding: a header's encoded size bounds its name and value.
    out.headerBytes += len
    if (out.headerCount >= limits.maxHeaders || out.headerBytes > limits.maxHeaderBytes) {
      throw new LimitExceededError('request headers exceed the configured limits')
    }
    out.headerCount++
    const field = decodeHeaderValue(buf, s, e, only)
    if (field !== undefined) out.headers.push(field)
  }
}

// HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
// Undefined when `only` is given and the name is not in it: nothing of it is decoded.
function decodeHeaderValue(
  buf: Uint8Array,
  start: number,
  end: number,
  only: NameSet | undefined,
): HeaderField | undefined {
  const valueStart = keyThenValueStart(buf, start, end, 3) // key, raw_value: Envoy's shape
  if (valueStart >= 0) {
    const ke = start + 2 + (buf[start + 1] as number)
    const name = only === undefined ? latin1(buf, start + 2, ke) : only.match(buf, start + 2, ke)
    if (name === undefined) return undefined
    return { name, value: latin1(buf, valueStart, end) }
  }
  const r = HEADER_READER.reset(buf, start, end)
  // Ranges first (a field may repeat: the last wins, and key may follow the values).
  let ks = 0
  let ke = 0
  let vs = -1
  let ve = -1
  let rs = -1
  let re = -1
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      ks = r.lenDelimited()
      ke = r.fieldEnd
    } else if (tag === ((2 << 3) | WIRE_LEN)) {
      vs = r.lenDelimited()
      ve = r.fieldEnd
    } else if (tag === ((3 << 3) | WIRE_LEN)) {
      rs = r.lenDelimited()
      re = r.fieldEnd
    } else r.skip(tag & 7)
  }
  const name = only === undefined ? latin1(buf, ks, ke) : only.match(buf, ks, ke)
  if (name === undefined) return undefined
  // Current Envoy fills raw_value and leaves value empty; older Envoy fills only value.
  const value = rs >= 0 ? latin1(buf, rs, re) : vs >= 0 ? latin1(buf, vs, ve) : ''
  return { name, value }
}

// HttpBody { bytes body = 1; bool end_of_stream = 2; }: nothing in it is read, but it is walked,
// so a corrupt body message fails like any other.
function walkBody(buf: Uint8Array, start: number, end: number): void {
  const r = BODY_READER.reset(buf, start, end)
  while (!r.done()) r.skip(r.uint32() & 7)
}

export { EXT_PROC_ATTRIBUTES_KEY } from './attributes.js'
export type { AttributeValue }
export { WireError }
