import { AuthzError } from '../../shared/errors.js'
import { WIRE_LEN, WireWriter } from '../../shared/protobuf-wire.js'

// ProcessingResponse { google.protobuf.Struct dynamic_metadata = 8; } (external_processor.proto).
// Each top-level key of that Struct is a metadata namespace Envoy writes only when it is listed
// in the filter's metadata_options.receiving_namespaces.untyped.
const FIELD_DYNAMIC_METADATA = 8
// google.protobuf.Struct { map<string, Value> fields = 1; }; a map entry { key = 1; value = 2; }
const STRUCT_FIELDS = 1
const ENTRY_KEY = 1
const ENTRY_VALUE = 2
// google.protobuf.Value { string string_value = 3; Struct struct_value = 5; }
const VALUE_STRING = 3
const VALUE_STRUCT = 5

const tag = (field: number) => (field << 3) | WIRE_LEN

/** One Struct field holding a string, encoded whole (tag included): concatenated ones are a Struct. */
export function stringStructField(key: string, value: string): Buffer {
  const entry = new WireWriter()
    .string(ENTRY_KEY, key)
    .message(ENTRY_VALUE, new WireWriter().string(VALUE_STRING, value))
  return new WireWriter().message(STRUCT_FIELDS, entry).finish()
}

function varintLength(n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    len++
  }
  return len
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[at++] = n
  return at
}

/** The length of an all-ASCII string (its UTF-8 byte count), or -1 for any other. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1
  return s.length
}

/** A string field appended after the cached ones: written straight into the answer. */
export interface TailField {
  /** The key's UTF-8 bytes. */
  readonly key: Uint8Array
  readonly value: string
}

/**
 * Appends `dynamic_metadata = { <namespace>: { ...fields, tail } }` to an encoded
 * ProcessingResponse (protobuf concatenation is a merge, and the answer has no field 8 of its
 * own). `fields` are stringStructField() encodings, typically cached; `tail` is the one field
 * that changes per request (the request id). Sizes are computed first and everything is written
 * into one buffer: this runs per request, and nested writers cost several times more.
 */
export function appendDynamicMetadata(
  answer: Uint8Array,
  namespace: Uint8Array,
  fields: readonly Uint8Array[],
  tail?: TailField,
): Buffer {
  let inner = 0
  for (const f of fields) inner += f.length
  let tailValue = 0
  let tailValueMsg = 0
  let tailEntry = 0
  if (tail !== undefined) {
    tailValue = asciiLength(tail.value)
    if (tailValue < 0) tailValue = Buffer.byteLength(tail.value, 'utf8')
    tailValueMsg = 1 + varintLength(tailValue) + tailValue // Value { string_value }
    tailEntry =
      1 +
      varintLength(tail.key.length) +
      tail.key.length +
      1 +
      varintLength(tailValueMsg) +
      tailValueMsg
    inner += 1 + varintLength(tailEntry) + tailEntry
  }
  const value = 1 + varintLength(inner) + inner // Value { struct_value }
  const entry =
    1 + varintLength(namespace.length) + namespace.length + 1 + varintLength(value) + value
  const struct = 1 + varintLength(entry) + entry // Struct { fields: [entry] }
  const out = Buffer.allocUnsafe(answer.length + 1 + varintLength(struct) + struct)
  out.set(answer, 0)
  let at = answer.length
  out[at++] = tag(FIELD_DYNAMIC_METADATA)
  at = writeVarint(out, at, struct)
  out[at++] = tag(STRUCT_FIELDS)
  at = writeVarint(out, at, entry)
  out[at++] = tag(ENTRY_KEY)
  at = writeVarint(out, at, namespace.length)
  out.set(namespace, at)
  at += namespace.length
  out[at++] = tag(ENTRY_VALUE)
  at = writeVarint(out, at, value)
  out[at++] = tag(VALUE_STRUCT)
  at = writeVarint(out, at, inner)
  for (const f of fields) {
    out.set(f, at)
    at += f.length
  }
  if (tail !== undefined) {
    out[at++] = tag(STRUCT_FIELDS)
    at = writeVarint(out, at, tailEntry)
    out[at++] = tag(ENTRY_KEY)
    at = writeVarint(out, at, tail.key.length)
    out.set(tail.key, at)
    at += tail.key.length
    out[at++] = tag(ENTRY_VALUE)
    at = writeVarint(out, at, tailValueMsg)
    out[at++] = tag(VALUE_STRING)
    at = writeVarint(out, at, tailValue)
    if (tailValue === tail.value.length) {
      for (let i = 0; i < tailValue; i++) out[at++] = tail.value.charCodeAt(i)
    } else at += out.write(tail.value, at, 'utf8')
  }
  if (at !== out.length) throw new AuthzError('ERR_INTERNAL', 'dynamic metadata: size mismatch')
  return out
}

/** A key or namespace as appendDynamicMetadata takes it: its UTF-8 bytes, encoded once. */
export function utf8Key(key: string): Buffer {
  return Buffer.from(key, 'utf8')
}
