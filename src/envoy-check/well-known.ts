import { checkScalar, describeValue } from './check-scalar.js'

// google.protobuf types whose proto3 JSON form is not an object of their fields. Any is handled
// by the message validator (it needs the descriptor); Empty is an ordinary empty message.

/** Wrapper types, by the scalar they carry (checked as that scalar, and only when set). */
export const WRAPPERS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
}

const DURATION = /^-?\d+(\.\d{1,9})?s$/
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/

/** True when `type` has a special JSON form checked by {@link checkWellKnown}. */
export function isWellKnown(type: string): boolean {
  return (
    type in WRAPPERS ||
    [
      'google.protobuf.Duration',
      'google.protobuf.Timestamp',
      'google.protobuf.FieldMask',
      'google.protobuf.Struct',
      'google.protobuf.Value',
      'google.protobuf.ListValue',
      'google.protobuf.NullValue',
    ].includes(type)
  )
}

/** Returns an error message, or undefined when `value` is valid JSON for the well-known `type`. */
export function checkWellKnown(type: string, value: unknown): string | undefined {
  const wrapped = WRAPPERS[type]
  if (wrapped !== undefined) return checkScalar(wrapped, value)
  switch (type) {
    case 'google.protobuf.Duration':
      return typeof value === 'string' && DURATION.test(value)
        ? undefined
        : `expected a duration like "1s" or "0.250s", got ${describeValue(value)}`
    case 'google.protobuf.Timestamp':
      return typeof value === 'string' && TIMESTAMP.test(value)
        ? undefined
        : `expected an RFC 3339 timestamp, got ${describeValue(value)}`
    case 'google.protobuf.FieldMask':
      return typeof value === 'string'
        ? undefined
        : `expected a field mask string, got ${describeValue(value)}`
    case 'google.protobuf.Struct':
      return value !== null && typeof value === 'object' && !Array.isArray(value)
        ? undefined
        : `expected an object (Struct), got ${describeValue(value)}`
    case 'google.protobuf.ListValue':
      return Array.isArray(value) ? undefined : `expected a list, got ${describeValue(value)}`
    case 'google.protobuf.NullValue':
      return value === null || value === 'NULL_VALUE'
        ? undefined
        : `expected null, got ${describeValue(value)}`
    default:
      return undefined // google.protobuf.Value: any JSON value
  }
}

/** Milliseconds of a proto3 JSON Duration string ("1s", "0.250s"); undefined if malformed. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || !DURATION.test(value)) return undefined
  return Number(value.slice(0, -1)) * 1000
}
