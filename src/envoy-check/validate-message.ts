import { checkScalar, describeValue, isScalar } from './check-scalar.js'
import {
  type EnvoyDescriptor,
  type FieldDesc,
  lowerCamel,
  type MessageDesc,
} from './descriptor-types.js'
import { childPath, type Findings } from './findings.js'
import { isObject, type Json, type Normalized, typeNameOf } from './normalized.js'
import { durationNanos, fieldRuleProblems } from './validate-rules.js'
import { checkWellKnown, isWellKnown } from './well-known.js'

/** Deeper than any real bootstrap; bounds recursion on hostile input. */
const MAX_DEPTH = 64
/** Envoy's DurationUtil bound: 10,000 years of seconds (protobuf's Duration maximum). */
const MAX_DURATION_NANOS = 315_576_000_000n * 1_000_000_000n
const TYPED_STRUCTS = new Set(['udpa.type.v1.TypedStruct', 'xds.type.v3.TypedStruct'])

class Validator {
  readonly pathOf = new WeakMap<object, string>()
  readonly keysOf = new WeakMap<object, Map<string, string>>()
  readonly typeOf = new WeakMap<object, string>()
  private readonly byJsonName = new Map<MessageDesc, Map<string, string>>()

  constructor(
    private readonly descriptor: EnvoyDescriptor,
    private readonly findings: Findings,
  ) {}

  message(type: string, value: unknown, path: string, depth: number): unknown {
    if (depth > MAX_DEPTH) {
      this.findings.error(path, 'proto-too-deep', `nested deeper than ${MAX_DEPTH} levels`)
      return undefined
    }
    if (type === 'google.protobuf.Any') return this.any(value, path, depth)
    if (isWellKnown(type)) {
      const problem = checkWellKnown(type, value)
      if (problem !== undefined) this.findings.error(path, 'proto-type', problem)
      else if (type === 'google.protobuf.Duration') this.duration(value, path)
      return value
    }
    const desc = this.descriptor.messages[type]
    if (desc === undefined) {
      this.findings.error(path, 'proto-unknown-type', `check-envoy does not know type ${type}`)
      return value
    }
    if (!isObject(value)) {
      this.findings.error(
        path,
        'proto-type',
        `expected an object (${type}), got ${describeValue(value)}`,
      )
      return undefined
    }
    return this.fields(type, desc, value, path, depth)
  }

  /** Envoy checks every Duration it loads (validateDurationFields): not negative, in range. */
  private duration(value: unknown, path: string): void {
    const nanos = durationNanos(value)
    if (nanos === undefined) return
    if (nanos < 0n)
      this.findings.error(path, 'proto-constraint', `duration ${String(value)} is negative`)
    else if (nanos > MAX_DURATION_NANOS)
      this.findings.error(path, 'proto-constraint', `duration ${String(value)} is out of range`)
  }

  private fields(type: string, desc: MessageDesc, value: Json, path: string, depth: number): Json {
    const out: Json = {}
    this.pathOf.set(out, path)
    this.typeOf.set(out, type)
    const keys = new Map<string, string>()
    this.keysOf.set(out, keys)
    const oneofs = new Map<string, string>()
    for (const [key, raw] of Object.entries(value)) {
      const here = childPath(path, key)
      const name = this.fieldName(desc, key)
      const field = name === undefined ? undefined : desc.f[name]
      if (name === undefined || field === undefined) {
        this.findings.error(here, 'proto-unknown-field', `unknown field '${key}' in ${type}`)
        // Kept as written: a rule may still recognise a field newer than the shipped protos.
        out[key] = raw
        continue
      }
      const earlier = keys.get(name)
      if (earlier !== undefined) {
        this.findings.error(
          here,
          'proto-duplicate-field',
          `'${key}' sets the same field as '${earlier}'`,
        )
        continue
      }
      keys.set(name, key)
      if (raw === null) continue // proto3 JSON: null means absent
      if (field.o !== undefined) {
        const first = oneofs.get(field.o)
        if (first !== undefined) {
          this.findings.error(
            here,
            'proto-oneof',
            `'${key}' and '${first}' are both set, but they are members of one oneof (${field.o})`,
          )
        } else oneofs.set(field.o, key)
      }
      out[name] = this.field(field, raw, here, depth)
    }
    this.constraints(type, desc, value, out, keys, path)
    return out
  }

  /** protoc-gen-validate rules, deprecated-and-disallowed fields, required oneofs. */
  private constraints(
    type: string,
    desc: MessageDesc,
    value: Json,
    out: Json,
    keys: ReadonlyMap<string, string>,
    path: string,
  ): void {
    const isSet = (name: string) => {
      const key = keys.get(name)
      return key !== undefined && value[key] !== null
    }
    for (const [name, field] of Object.entries(desc.f)) {
      const key = keys.get(name)
      const present = isSet(name)
      if (present && key !== undefined && field.x === 1) {
        this.findings.error(
          childPath(path, key),
          'proto-deprecated',
          `'${key}' is deprecated and disallowed by default in ${type}`,
        )
      }
      // A value that failed its type check is reported once, not again against its rules.
      if (present && out[name] === undefined) continue
      const enumDesc = this.descriptor.enums[field.t]
      if (enumDesc?.x !== undefined && field.r === undefined && field.k === undefined) {
        // Unset, a singular enum reads as its zero value, and Envoy refuses that too when it is
        // deprecated ("Using the default now-deprecated value ...").
        const zero = Object.entries(enumDesc.v).find(([, n]) => n === 0)?.[0]
        const current = present ? String(out[name]) : field.o === undefined ? zero : undefined
        if (current !== undefined && enumDesc.x.includes(current)) {
          this.findings.error(
            present ? childPath(path, key ?? name) : path,
            'proto-deprecated',
            `'${key ?? name}' is ${current}${present ? '' : ' (the default)'}, deprecated and disallowed by default (${type})`,
          )
        }
      }
      if (field.v === undefined) continue
      for (const problem of fieldRuleProblems(field, out[name], present, enumDesc)) {
        this.findings.error(
          present && key !== undefined ? childPath(path, key) : path,
          'proto-constraint',
          `'${key ?? name}' ${problem} (${type})`,
        )
      }
    }
    for (const oneof of desc.ro ?? []) {
      const members = Object.entries(desc.f)
        .filter(([, f]) => f.o === oneof)
        .map(([n]) => n)
      if (members.some(isSet)) continue
      this.findings.error(
        path,
        'proto-oneof-required',
        `one of ${members.join(', ')} is required (${type})`,
      )
    }
  }

  private fieldName(desc: MessageDesc, key: string): string | undefined {
    if (Object.hasOwn(desc.f, key)) return key
    let index = this.byJsonName.get(desc)
    if (index === undefined) {
      index = new Map(Object.entries(desc.f).map(([n, f]) => [f.j ?? lowerCamel(n), n]))
      this.byJsonName.set(desc, index)
    }
    return index.get(key)
  }

  private field(field: FieldDesc, value: unknown, path: string, depth: number): unknown {
    if (field.k !== undefined) {
      if (!isObject(value)) {
        this.findings.error(
          path,
          'proto-type',
          `expected a map (object), got ${describeValue(value)}`,
        )
        return undefined
      }
      const out: Json = {}
      for (const [key, v] of Object.entries(value)) {
        const here = childPath(path, key)
        const keyProblem = this.mapKey(field.k, key)
        if (keyProblem !== undefined)
          this.findings.error(here, 'proto-type', `map key: ${keyProblem}`)
        out[key] = this.single(field.t, v, here, depth)
      }
      return out
    }
    if (field.r === 1) {
      // protobuf's JSON parser, as Envoy uses it, takes a single value for a repeated field and
      // flattens nested lists: `domains: "*"` and `domains: [["*"]]` both load.
      if (!Array.isArray(value)) return [this.single(field.t, value, path, depth)]
      const flat = value.some(Array.isArray) ? value.flat(MAX_DEPTH) : value
      return flat.map((v, i) => this.single(field.t, v, childPath(path, i), depth))
    }
    return this.single(field.t, value, path, depth)
  }

  private mapKey(type: string, key: string): string | undefined {
    if (type === 'string') return undefined
    if (type === 'bool')
      return key === 'true' || key === 'false' ? undefined : 'expected true or false'
    return checkScalar(type, key)
  }

  private single(type: string, value: unknown, path: string, depth: number): unknown {
    if (isScalar(type)) {
      const problem = checkScalar(type, value)
      if (problem !== undefined) this.findings.error(path, 'proto-type', problem)
      return value
    }
    const enumDesc = this.descriptor.enums[type]
    if (enumDesc !== undefined) {
      if (typeof value === 'number' && Number.isInteger(value)) return value
      // Exact first (TLSv1_3 is mixed case), then upper-cased: Envoy parses JSON with
      // case_insensitive_enum_parsing (utility.cc), so `skip` is SKIP. Rules see the real name.
      if (typeof value === 'string') {
        if (Object.hasOwn(enumDesc.v, value)) return value
        if (Object.hasOwn(enumDesc.v, value.toUpperCase())) return value.toUpperCase()
      }
      this.findings.error(
        path,
        'proto-type',
        `${describeValue(value)} is not a value of ${type} (${Object.keys(enumDesc.v).join(', ')})`,
      )
      return value
    }
    return this.message(type, value, path, depth + 1)
  }

  private any(value: unknown, path: string, depth: number): unknown {
    if (!isObject(value)) {
      this.findings.error(
        path,
        'proto-type',
        `expected an object with "@type", got ${describeValue(value)}`,
      )
      return undefined
    }
    const typeUrl = value['@type']
    if (typeof typeUrl !== 'string' || !typeUrl.includes('/')) {
      this.findings.error(
        childPath(path, '@type'),
        'proto-any-type',
        'an Any needs "@type": "type.googleapis.com/<full message name>"',
      )
      return undefined
    }
    const type = typeNameOf(typeUrl)
    const { '@type': _, ...rest } = value
    if (isWellKnown(type)) {
      // A well-known type inside an Any keeps its special JSON form under "value".
      const { value: inner, ...extra } = rest
      for (const key of Object.keys(extra)) {
        this.findings.error(
          childPath(path, key),
          'proto-unknown-field',
          `unknown field '${key}' in Any(${type})`,
        )
      }
      this.message(type, inner, childPath(path, 'value'), depth + 1)
      return value
    }
    if (this.descriptor.messages[type] === undefined) {
      this.findings.error(
        childPath(path, '@type'),
        'proto-unknown-type',
        `check-envoy does not know type ${type} (not in the Envoy API protos it ships), so it cannot check this config`,
      )
      return value
    }
    const out = this.message(type, rest, path, depth + 1)
    if (!isObject(out)) return value
    if (TYPED_STRUCTS.has(type)) {
      // Checked as the type it stands for, and shown to the rules as that type: an ext_proc
      // config in a TypedStruct is still an ext_proc config.
      const inner = this.typedStruct(out, path, depth)
      if (inner !== undefined) return inner
    }
    const expanded = { '@type': type, ...out }
    this.pathOf.set(expanded, path)
    const keys = this.keysOf.get(out)
    if (keys !== undefined) this.keysOf.set(expanded, keys)
    return expanded
  }

  /** Envoy converts a TypedStruct's value into its type_url's message: check it as that type. */
  private typedStruct(struct: Json, path: string, depth: number): unknown {
    const url = struct.type_url
    if (typeof url !== 'string' || !isObject(struct.value)) return undefined
    // Types outside the shipped protos (Lua, Wasm, custom filters) stay unchecked: that is what
    // TypedStruct is for.
    if (this.descriptor.messages[typeNameOf(url)] === undefined) return undefined
    return this.any({ ...struct.value, '@type': url }, childPath(path, 'value'), depth + 1)
  }
}

/** Strictly validates `value` as message `type` (proto3 JSON as Envoy parses it). */
export function validateMessage(
  descriptor: EnvoyDescriptor,
  type: string,
  value: unknown,
  findings: Findings,
  path = '',
): Normalized {
  const validator = new Validator(descriptor, findings)
  const out = validator.message(type, value, path, 0)
  return {
    value: isObject(out) ? out : {},
    pathOf: validator.pathOf,
    keysOf: validator.keysOf,
    typeOf: validator.typeOf,
  }
}
