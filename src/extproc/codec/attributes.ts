import {
  keyThenValueStart,
  utf8String,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  WireReader,
} from '../../shared/protobuf-wire.js'
import { NameSet } from './name-set.js'

// ProcessingRequest.attributes: map<string, google.protobuf.Struct>. Authorization reads one
// Struct (the ext_proc filter's) and from it scalar values only.

/** The attribute map key under which Envoy's ext_proc filter puts its attributes. */
export const EXT_PROC_ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc'

/** Scalar Struct values; nested structs and lists are not used for decisions and are dropped. */
export type AttributeValue = string | number | boolean | null

const EXT_PROC_KEY = new NameSet([EXT_PROC_ATTRIBUTES_KEY], 'utf8')
// Decoding is synchronous and each level has its own reader, so one per level is reused.
const EMPTY = new Uint8Array(0)
const MAP_ENTRY_READER = new WireReader(EMPTY)
const STRUCT_READER = new WireReader(EMPTY)
const ENTRY_READER = new WireReader(EMPTY)
const LEAF_READER = new WireReader(EMPTY)
const READERS = [MAP_ENTRY_READER, STRUCT_READER, ENTRY_READER, LEAF_READER]

/** Drops the shared readers' reference to the last message (it may hold a token). */
export function releaseAttributeReaders(): void {
  for (const r of READERS) r.reset(EMPTY, 0, 0)
}

// map<string, Struct> entry { string key = 1; Struct value = 2; }
export function decodeAttributesEntry(
  buf: Uint8Array,
  start: number,
  end: number,
  out: { attributes: Map<string, AttributeValue> | undefined },
  only: NameSet | undefined,
): void {
  const r = MAP_ENTRY_READER.reset(buf, start, end)
  let key: string | undefined
  let vs = -1
  let ve = -1
  while (!r.done()) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | WIRE_LEN)) {
      const s = r.lenDelimited()
      key = EXT_PROC_KEY.match(buf, s, r.fieldEnd) // compared as bytes: no string for other keys
    } else if (tag === ((2 << 3) | WIRE_LEN)) {
      vs = r.lenDelimited()
      ve = r.fieldEnd
    } else {
      r.skip(tag & 7)
    }
  }
  if (key !== EXT_PROC_ATTRIBUTES_KEY || vs < 0) return
  const attrs = out.attributes ?? new Map<string, AttributeValue>()
  decodeStructFields(buf, vs, ve, attrs, only)
  out.attributes = attrs
}

// Struct { map<string, Value> fields = 1; }
function decodeStructFields(
  buf: Uint8Array,
  start: number,
  end: number,
  into: Map<string, AttributeValue>,
  only: NameSet | undefined,
): void {
  const r = STRUCT_READER.reset(buf, start, end)
  while (!r.done()) {
    const tag = r.uint32()
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      r.skip(tag & 7)
      continue
    }
    const s = r.lenDelimited()
    const e = r.fieldEnd
    let ks = 0
    let ke = 0
    let vs = -1
    let ve = -1
    const valueStart = keyThenValueStart(buf, s, e, 2) // key, value: Envoy's shape
    if (valueStart >= 0) {
      ks = s + 2
      ke = ks + (buf[s + 1] as number)
      vs = valueStart
      ve = e
      decodeScalarValue(buf, vs, ve, false) // walked: a malformed Value fails the message
    } else {
      const entry = ENTRY_READER.reset(buf, s, e) // calls only leaves, which use LEAF_READER
      while (!entry.done()) {
        const t = entry.uint32()
        if (t === ((1 << 3) | WIRE_LEN)) {
          ks = entry.lenDelimited()
          ke = entry.fieldEnd
        } else if (t === ((2 << 3) | WIRE_LEN)) {
          // Every Value is walked, so a malformed one fails the message whether it is read or not.
          vs = entry.lenDelimited()
          ve = entry.fieldEnd
          decodeScalarValue(buf, vs, ve, false)
        } else {
          entry.skip(t & 7)
        }
      }
    }
    const key = only === undefined ? utf8String(buf, ks, ke) : only.match(buf, ks, ke)
    if (key === undefined || vs < 0) continue
    const value = decodeScalarValue(buf, vs, ve) // the last one wins, as in protobuf
    if (value !== undefined) into.set(key, value)
  }
}

// Value { oneof kind { NullValue null_value = 1; double number_value = 2; string string_value = 3;
//                      bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; } }
// With `decode` false, the fields are only walked (wire errors still throw) and nothing is built.
function decodeScalarValue(
  buf: Uint8Array,
  start: number,
  end: number,
  decode = true,
): AttributeValue | undefined {
  const r = LEAF_READER.reset(buf, start, end) // a leaf: nothing below reuses it
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
      const s = r.lenDelimited()
      value = decode ? utf8String(buf, s, r.fieldEnd) : undefined
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
