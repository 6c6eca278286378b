import type { EnumDesc, FieldDesc } from './descriptor-types.js'
import { WRAPPERS } from './well-known.js'

// protoc-gen-validate rules as Envoy's generated C++ validators apply them when a config loads
// (MessageUtil::validate): the subset of FieldRules the Envoy API uses (see envoy-api.json).
// Scalars are checked even when absent (proto3 reads them as 0 / "" / false), message-typed
// fields (wrappers, Duration, Any, messages) only when set, repeated and map sizes always.

type Rules = Readonly<Record<string, unknown>>

const INTEGER = new Set([
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
])
const FLOAT = new Set(['double', 'float'])

// PGV's well_known_regex patterns (validate.proto; templates/cc/known.go), as code: strict names
// are RFC 7230 tokens (an optional leading ':'), strict values exclude control characters but
// HTAB, loose names and values exclude NUL, LF and CR.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/

function hasCode(value: string, bad: (code: number) => boolean): boolean {
  for (let i = 0; i < value.length; i++) if (bad(value.charCodeAt(i))) return true
  return false
}
const strictValueBad = (c: number) => c <= 0x08 || (c >= 0x0a && c <= 0x1f) || c === 0x7f
const looseBad = (c: number) => c === 0x00 || c === 0x0a || c === 0x0d

function rulesOf(value: unknown): Rules | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Rules)
    : undefined
}

/** Nanoseconds of a proto3 JSON Duration ("1s", "-0.5s"); undefined if malformed. */
export function durationNanos(value: unknown): bigint | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value)
  if (m === null) return undefined
  const nanos = BigInt(m[2] ?? '0') * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0') || '0')
  return m[1] === '-' ? -nanos : nanos
}

type Num = bigint | number

function toNumber(kind: string, value: unknown): Num | undefined {
  if (kind === 'duration') return durationNanos(value)
  if (INTEGER.has(kind)) {
    if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value)
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
    return undefined
  }
  if (typeof value === 'number') return value
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)))
    return Number(value)
  return undefined
}

/** const / lt / lte / gt / gte / in / not_in, with PGV's exclusive-range reading of gt > lt. */
function checkRange(kind: string, rules: Rules, value: Num): string | undefined {
  const bound = (key: string) => (key in rules ? toNumber(kind, rules[key]) : undefined)
  const c = bound('const')
  if (c !== undefined && value !== c) return `must equal ${String(rules.const)}`
  const lower = bound('gt') ?? bound('gte')
  const upper = bound('lt') ?? bound('lte')
  const lowerOk = (v: Num) => lower === undefined || ('gt' in rules ? v > lower : v >= lower)
  const upperOk = (v: Num) => upper === undefined || ('lt' in rules ? v < upper : v <= upper)
  const lowerText =
    'gt' in rules ? `greater than ${String(rules.gt)}` : `at least ${String(rules.gte)}`
  const upperText = 'lt' in rules ? `less than ${String(rules.lt)}` : `at most ${String(rules.lte)}`
  if (lower !== undefined && upper !== undefined && upper < lower) {
    // PGV: gt > lt means "outside the range".
    if (!lowerOk(value) && !upperOk(value)) return `must be ${lowerText} or ${upperText}`
  } else if (!lowerOk(value) || !upperOk(value)) {
    if (lower !== undefined && upper !== undefined) return `must be ${lowerText} and ${upperText}`
    return `must be ${lower !== undefined ? lowerText : upperText}`
  }
  const list = (key: string) =>
    Array.isArray(rules[key])
      ? (rules[key] as unknown[]).map((x) => toNumber(kind, x)).filter((x) => x !== undefined)
      : []
  const within = list('in')
  if (within.length > 0 && !within.includes(value)) return `must be one of ${String(rules.in)}`
  if (list('not_in').includes(value)) return `must not be one of ${String(rules.not_in)}`
  return undefined
}

function checkString(rules: Rules, value: string): string | undefined {
  if (rules.ignore_empty === true && value === '') return undefined
  const n = (key: string) => (key in rules ? Number(rules[key]) : undefined)
  const chars = [...value].length
  const bytes = Buffer.byteLength(value, 'utf8')
  if (typeof rules.const === 'string' && value !== rules.const)
    return `must equal ${JSON.stringify(rules.const)}`
  const minLen = n('min_len')
  if (minLen !== undefined && chars < minLen)
    return minLen === 1 ? 'must not be empty' : `must be at least ${minLen} characters long`
  const maxLen = n('max_len')
  if (maxLen !== undefined && chars > maxLen) return `must be at most ${maxLen} characters long`
  const minBytes = n('min_bytes')
  if (minBytes !== undefined && bytes < minBytes) return `must be at least ${minBytes} bytes long`
  const maxBytes = n('max_bytes')
  if (maxBytes !== undefined && bytes > maxBytes) return `must be at most ${maxBytes} bytes long`
  if (typeof rules.pattern === 'string') {
    let re: RegExp | undefined
    try {
      re = new RegExp(rules.pattern, 'u')
    } catch {
      re = undefined // an RE2 construct JavaScript lacks: leave it to Envoy
    }
    if (re !== undefined && !re.test(value)) return `must match the pattern ${rules.pattern}`
  }
  if (typeof rules.prefix === 'string' && !value.startsWith(rules.prefix))
    return `must start with ${JSON.stringify(rules.prefix)}`
  if (typeof rules.suffix === 'string' && !value.endsWith(rules.suffix))
    return `must end with ${JSON.stringify(rules.suffix)}`
  if (Array.isArray(rules.in) && !rules.in.includes(value))
    return `must be one of ${rules.in.map((x) => JSON.stringify(x)).join(', ')}`
  if (Array.isArray(rules.not_in) && rules.not_in.includes(value))
    return `must not be one of ${rules.not_in.map((x) => JSON.stringify(x)).join(', ')}`
  const strict = rules.strict !== false
  if (rules.well_known_regex === 'HTTP_HEADER_NAME') {
    const ok = strict ? HEADER_NAME_STRICT.test(value) : !hasCode(value, looseBad)
    if (!ok) return 'must be a valid HTTP header name'
  }
  if (rules.well_known_regex === 'HTTP_HEADER_VALUE') {
    if (hasCode(value, strict ? strictValueBad : looseBad))
      return 'must be a valid HTTP header value'
  }
  return undefined
}

/** Rules for one value (a singular field, a list item or a map key/value). */
function checkSingle(
  rules: Rules,
  type: string,
  value: unknown,
  present: boolean,
  enumDesc: EnumDesc | undefined,
): string | undefined {
  for (const [kind, raw] of Object.entries(rules)) {
    const r = rulesOf(raw)
    if (r === undefined) continue
    if (kind === 'message') {
      if (r.required === true && !present) return 'is required'
      continue
    }
    if (kind === 'any' || kind === 'duration' || kind === 'timestamp') {
      if (r.required === true && !present) return 'is required'
      if (!present) continue
      if (kind === 'any') {
        const url = (value as Record<string, unknown> | undefined)?.['@type']
        const ins = Array.isArray(r.in) ? r.in : []
        if (ins.length > 0 && typeof url === 'string' && !ins.some((u) => String(u).endsWith(url)))
          return `must be one of ${ins.join(', ')}`
        continue
      }
      if (kind === 'timestamp') continue
    }
    // A wrapper (UInt32Value, ...) is checked as its scalar, but only when set.
    if (WRAPPERS[type] !== undefined && !present) continue
    if (kind === 'enum') {
      if (r.defined_only === true && enumDesc !== undefined) {
        const ok = typeof value !== 'number' || Object.values(enumDesc.v).includes(value)
        if (!ok) return `${value} is not a defined value of ${type}`
      }
      const number =
        typeof value === 'string' ? enumDesc?.v[value] : typeof value === 'number' ? value : 0
      if (number !== undefined) {
        const problem = checkRange('int32', r, BigInt(number))
        if (problem !== undefined) return problem
      }
      continue
    }
    if (kind === 'string') {
      const text = present ? value : ''
      if (typeof text === 'string') {
        const problem = checkString(r, text)
        if (problem !== undefined) return problem
      }
      continue
    }
    if (kind === 'bytes') {
      const text = present && typeof value === 'string' ? value : ''
      const length = Buffer.from(text, 'base64').length
      if ('min_len' in r && length < Number(r.min_len))
        return `must be at least ${String(r.min_len)} bytes long`
      if ('max_len' in r && length > Number(r.max_len))
        return `must be at most ${String(r.max_len)} bytes long`
      continue
    }
    if (kind === 'bool') {
      const v = present ? value : false
      if (typeof r.const === 'boolean' && v !== r.const) return `must be ${String(r.const)}`
      continue
    }
    if (kind === 'duration' || INTEGER.has(kind) || FLOAT.has(kind)) {
      if (r.ignore_empty === true && (!present || value === 0 || value === '0')) continue
      const n = toNumber(kind, present ? value : 0)
      if (n === undefined) continue // a type error, already reported
      const problem = checkRange(kind, r, n)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

/**
 * The problems a field's validate rules find. `present` says the file sets the field; `value`
 * is the normalized value (enum names upper-cased), undefined when absent.
 */
export function fieldRuleProblems(
  field: FieldDesc,
  value: unknown,
  present: boolean,
  enumDesc: EnumDesc | undefined,
): string[] {
  const rules = field.v
  if (rules === undefined) return []
  // Members of a oneof and proto3 `optional` scalars are checked only when set.
  if (!present && (field.o !== undefined || field.p === 1)) return []
  const repeated = rulesOf(rules.repeated)
  if (field.r === 1 || repeated !== undefined) {
    const list = present && Array.isArray(value) ? value : []
    const r = repeated ?? {}
    const problems: string[] = []
    if ('min_items' in r && list.length < Number(r.min_items))
      problems.push(
        Number(r.min_items) === 1
          ? 'needs at least one item'
          : `needs at least ${String(r.min_items)} items`,
      )
    if ('max_items' in r && list.length > Number(r.max_items))
      problems.push(`takes at most ${String(r.max_items)} items`)
    if (r.unique === true && new Set(list.map((x) => JSON.stringify(x))).size !== list.length)
      problems.push('items must be unique')
    const items = rulesOf(r.items)
    if (items !== undefined) {
      list.forEach((item, i) => {
        const problem = checkSingle(items, field.t, item, true, enumDesc)
        if (problem !== undefined) problems.push(`[${i}] ${problem}`)
      })
    }
    return problems
  }
  const map = rulesOf(rules.map)
  if (field.k !== undefined || map !== undefined) {
    const entries =
      present && value !== null && typeof value === 'object' ? Object.entries(value) : []
    const r = map ?? {}
    const problems: string[] = []
    if ('min_pairs' in r && entries.length < Number(r.min_pairs))
      problems.push(`needs at least ${String(r.min_pairs)} entries`)
    if ('max_pairs' in r && entries.length > Number(r.max_pairs))
      problems.push(`takes at most ${String(r.max_pairs)} entries`)
    const keys = rulesOf(r.keys)
    const values = rulesOf(r.values)
    for (const [k, v] of entries) {
      const keyProblem =
        keys === undefined ? undefined : checkSingle(keys, field.k ?? 'string', k, true, undefined)
      if (keyProblem !== undefined) problems.push(`key ${JSON.stringify(k)} ${keyProblem}`)
      const valueProblem =
        values === undefined ? undefined : checkSingle(values, field.t, v, true, enumDesc)
      if (valueProblem !== undefined) problems.push(`[${JSON.stringify(k)}] ${valueProblem}`)
    }
    return problems
  }
  const problem = checkSingle(rules, field.t, value, present, enumDesc)
  return problem === undefined ? [] : [problem]
}
