import { WireWriter } from './wire.js'

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

/** One Struct field holding a string, encoded whole (tag included): concatenated ones are a Struct. */
export function stringStructField(key: string, value: string): Buffer {
  const entry = new WireWriter()
    .string(ENTRY_KEY, key)
    .message(ENTRY_VALUE, new WireWriter().string(VALUE_STRING, value))
  return new WireWriter().message(STRUCT_FIELDS, entry).finish()
}

/**
 * Appends `dynamic_metadata = { <namespace>: { ...fields } }` to an encoded ProcessingResponse
 * (protobuf concatenation is a merge, and the answer has no field 8 of its own). `fields` are
 * stringStructField() encodings, typically cached; one copy of everything is made.
 */
export function appendDynamicMetadata(
  answer: Uint8Array,
  namespace: Uint8Array,
  fields: readonly Uint8Array[],
): Buffer {
  const inner = new WireWriter()
  for (const f of fields) inner.raw(f)
  const entry = new WireWriter()
    .message(ENTRY_KEY, namespace)
    .message(ENTRY_VALUE, new WireWriter().message(VALUE_STRUCT, inner))
  return new WireWriter()
    .raw(answer)
    .message(FIELD_DYNAMIC_METADATA, new WireWriter().message(STRUCT_FIELDS, entry))
    .finish()
}

/** The namespace as appendDynamicMetadata takes it: its UTF-8 bytes, encoded once. */
export function namespaceKey(namespace: string): Buffer {
  return Buffer.from(namespace, 'utf8')
}
