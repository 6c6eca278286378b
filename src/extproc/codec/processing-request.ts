import {
  latin1,
  utf8String,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  WireError,
  WireReader,
} from './wire.js'

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
const FIELD_OBSERVABILITY_MODE = 10

/** The attribute map key under which Envoy's ext_proc filter puts its attributes. */
export const EXT_PROC_ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc'

export type Phase = Exclude<(typeof PHASES)[number], undefined>

export interface HeaderField {
  /** Lower-case header name as Envoy sends it (pseudo-headers start with ':'). */
  readonly name: string
  /** The value's bytes as latin1 code units: `raw_value` when present, else the older `value`. */
  readonly value: string
}

/** Scalar Struct values; nested structs and lists are not used for decisions and are dropped. */
export type AttributeValue = string | number | boolean | null

export interface DecodedProcessingRequest {
  phase: Phase | undefined
  /** Header fields of a request_headers/response_headers message, in order, duplicates kept. */
  headers: HeaderField[]
  /** Sum of name and value bytes of `headers`. */
  headerBytes: number
  endOfStream: boolean
  /** `attributes["envoy.filters.http.ext_proc"]`, present only on the first message of a direction. */
  attributes: Map<string, AttributeValue> | undefined
  observabilityMode: boolean
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
export class LimitExceededError extends Error {
  override readonly name = 'LimitExceededError'
}

export function decodeProcessingRequest(
  buf: Uint8Array,
  limits: DecodeLimits,
): DecodedProcessingRequest {
  const out: DecodedProcessingRequest = {
    phase: undefined,
    headers: [],
    headerBytes: 0,
    endOfStream: false,
    attributes: undefined,
    observabilityMode: false,
  }
  const r = new WireReader(buf)
  while (!r.done()) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wt = tag & 7
    if (field >= 2 && field <= 7 && wt === WIRE_LEN) {
      // A oneof: the last one on the wire wins, as in every protobuf decoder.
      const phase = PHASES[field] as Phase
      const [s, e] = r.lenDelimited()
      out.phase = phase
      out.headers = []
      out.headerBytes = 0
      out.endOfStream = false
      if (field <= 3) decodeHttpHeaders(buf, s, e, out, limits)
      else if (field <= 5) out.endOfStream = decodeBodyEndOfStream(buf, s, e)
    } else if (field === FIELD_ATTRIBUTES && wt === WIRE_LEN) {
      const [s, e] = r.lenDelimited()
      decodeAttributesEntry(buf, s, e, out)
    } else if (field === FIELD_OBSERVABILITY_MODE && wt === WIRE_VARINT) {
      out.observabilityMode = r.uint32() !== 0
    } else {
      r.skip(wt)
    }
  }
  return out
}

// HttpHeaders { HeaderMap headers = 1; map attributes = 2 (deprecated); bool end_of_stream = 3; }
function decodeHttpHeaders(
  buf: Uint8Array,
  start: number,
  end: number,
  out: DecodedProcessingRequest,
  limits: DecodeLimits,
): void {
  const r = new WireReader(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const [s, e] = r.lenDelimited()
      decodeHeaderMap(buf, s, e, out, limits)
    } else if (tag === ((3 << 3) | WIRE_VARINT)) {
      out.endOfStream = r.uint32() !== 0
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
): void {
  const r = new WireReader(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      r.skip(tag & 7)
      continue
    }
    const [s, e] = r.lenDelimited()
    // Bound the work before decoding: a header's encoded size bounds its name and value.
    out.headerBytes += e - s
    if (out.headers.length >= limits.maxHeaders || out.headerBytes > limits.maxHeaderBytes) {
      throw new LimitExceededError('request headers exceed the configured limits')
    }
    out.headers.push(decodeHeaderValue(buf, s, e))
  }
}

// HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
function decodeHeaderValue(buf: Uint8Array, start: number, end: number): HeaderField {
  const r = new WireReader(buf, start, end)
  let name = ''
  let value: string | undefined
  let raw: string | undefined
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const [s, e] = r.lenDelimited()
      name = latin1(buf, s, e)
    } else if (tag === ((2 << 3) | WIRE_LEN)) {
      const [s, e] = r.lenDelimited()
      value = latin1(buf, s, e)
    } else if (tag === ((3 << 3) | WIRE_LEN)) {
      const [s, e] = r.lenDelimited()
      raw = latin1(buf, s, e)
    } else {
      r.skip(tag & 7)
    }
  }
  // Current Envoy fills raw_value and leaves value empty; older Envoy fills only value.
  return { name, value: raw ?? value ?? '' }
}

// HttpBody { bytes body = 1; bool end_of_stream = 2; } — the body itself is never read.
function decodeBodyEndOfStream(buf: Uint8Array, start: number, end: number): boolean {
  const r = new WireReader(buf, start, end)
  let eos = false
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((2 << 3) | WIRE_VARINT)) eos = r.uint32() !== 0
    else r.skip(tag & 7)
  }
  return eos
}

// map<string, Struct> entry { string key = 1; Struct value = 2; }
function decodeAttributesEntry(
  buf: Uint8Array,
  start: number,
  end: number,
  out: DecodedProcessingRequest,
): void {
  const r = new WireReader(buf, start, end)
  let key = ''
  let value: [number, number] | undefined
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const [s, e] = r.lenDelimited()
      key = utf8String(buf, s, e)
    } else if (tag === ((2 << 3) | WIRE_LEN)) {
      value = r.lenDelimited()
    } else {
      r.skip(tag & 7)
    }
  }
  if (key !== EXT_PROC_ATTRIBUTES_KEY || value === undefined) return
  const attrs = out.attributes ?? new Map<string, AttributeValue>()
  decodeStructFields(buf, value[0], value[1], attrs)
  out.attributes = attrs
}

// Struct { map<string, Value> fields = 1; }
function decodeStructFields(
  buf: Uint8Array,
  start: number,
  end: number,
  into: Map<string, AttributeValue>,
): void {
  const r = new WireReader(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      r.skip(tag & 7)
      continue
    }
    const [s, e] = r.lenDelimited()
    const entry = new WireReader(buf, s, e)
    let key = ''
    let value: AttributeValue | undefined
    while (!entry.done()) {
      const t = entry.uint32()
      if (t === ((1 << 3) | WIRE_LEN)) {
        const [ks, ke] = entry.lenDelimited()
        key = utf8String(buf, ks, ke)
      } else if (t === ((2 << 3) | WIRE_LEN)) {
        const [vs, ve] = entry.lenDelimited()
        value = decodeScalarValue(buf, vs, ve)
      } else {
        entry.skip(t & 7)
      }
    }
    if (value !== undefined) into.set(key, value)
  }
}

// Value { oneof kind { NullValue null_value = 1; double number_value = 2; string string_value = 3;
//                      bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; } }
function decodeScalarValue(
  buf: Uint8Array,
  start: number,
  end: number,
): AttributeValue | undefined {
  const r = new WireReader(buf, start, end)
  let value: AttributeValue | undefined
  while (!r.done()) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wt = tag & 7
    if (field === 1 && wt === WIRE_VARINT) {
      r.uint32()
      value = null
    } else if (field === 2 && wt === WIRE_FIXED64) {
      value = r.double()
    } else if (field === 3 && wt === WIRE_LEN) {
      const [s, e] = r.lenDelimited()
      value = utf8String(buf, s, e)
    } else if (field === 4 && wt === WIRE_VARINT) {
      value = r.uint32() !== 0
    } else if ((field === 5 || field === 6) && wt === WIRE_LEN) {
      r.lenDelimited()
      value = undefined
    } else {
      r.skip(wt)
    }
  }
  return value
}

export { WireError }
