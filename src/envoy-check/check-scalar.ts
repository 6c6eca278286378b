// Proto3 JSON mapping for scalar fields, as protobuf's JSON parser (which Envoy uses for YAML and
// JSON bootstraps) accepts them: integers as numbers or decimal strings, 64-bit ones likewise,
// floats also as "NaN"/"Infinity", bytes as base64, bools only as true/false.

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
}

const SCALARS = new Set([...Object.keys(INT_RANGES), 'double', 'float', 'bool', 'string', 'bytes'])

export function isScalar(type: string): boolean {
  return SCALARS.has(type)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${JSON.stringify(value)}`
}

/** Returns an error message, or undefined when `value` is a valid JSON form of `type`. */
export function checkScalar(type: string, value: unknown): string | undefined {
  const range = INT_RANGES[type]
  if (range !== undefined) {
    let n: bigint
    if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value)
    else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value)
    else return `expected an integer (${type}), got ${describe(value)}`
    if (n < range[0] || n > range[1]) return `${n} is out of range for ${type}`
    return undefined
  }
  switch (type) {
    case 'double':
    case 'float':
      if (typeof value === 'number') return undefined
      if (
        typeof value === 'string' &&
        /^(NaN|-?Infinity|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(value)
      )
        return undefined
      return `expected a number (${type}), got ${describe(value)}`
    case 'bool':
      return typeof value === 'boolean'
        ? undefined
        : `expected true or false, got ${describe(value)}`
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${describe(value)}`
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
        ? undefined
        : `expected base64 bytes, got ${describe(value)}`
    default:
      return `unsupported scalar type ${type}`
  }
}

export { describe as describeValue }
