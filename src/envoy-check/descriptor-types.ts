/**
 * The compact descriptor check-envoy ships in dist: just what strict proto3-JSON validation needs
 * (field names, types, cardinality, oneofs, enum names, protoc-gen-validate rules), generated from
 * go-control-plane at the pinned Envoy version (tools/envoy-descriptor, `make envoy-api`) so the
 * published package neither parses .proto files nor needs Go at runtime.
 */
export interface FieldDesc {
  /** Scalar name ('string', 'uint32', ...) or a fully qualified message/enum name without dot. */
  readonly t: string
  /** lowerCamel JSON name when it differs from {@link lowerCamel} of the proto name. */
  readonly j?: string
  /** 1 when repeated. */
  readonly r?: 1
  /** Map key scalar type when the field is a map. */
  readonly k?: string
  /** The oneof the field belongs to. */
  readonly o?: string
  /** protoc-gen-validate FieldRules as proto3 JSON with proto field names. */
  readonly v?: Readonly<Record<string, unknown>>
  /** 1 for a proto3 `optional` scalar: its rules apply only when set. */
  readonly p?: 1
  /** 1 when deprecated and disallowed by default: Envoy refuses it. */
  readonly x?: 1
}

export interface MessageDesc {
  readonly f: Readonly<Record<string, FieldDesc>>
  /** Oneofs with `(validate.required) = true`: exactly one member must be set. */
  readonly ro?: readonly string[]
}

export interface EnumDesc {
  readonly v: Readonly<Record<string, number>>
  /** Deprecated values Envoy refuses by default. */
  readonly x?: readonly string[]
}

/** Where the descriptor came from: the Envoy version and the Go module it was read from. */
export interface ApiVersion {
  readonly envoy: string
  readonly source: string
}

export interface EnvoyDescriptor {
  readonly api: ApiVersion
  readonly messages: Readonly<Record<string, MessageDesc>>
  readonly enums: Readonly<Record<string, EnumDesc>>
}

/** Shipped next to the compiled loader: dist/src/envoy-check/envoy-api.json. */
export const DESCRIPTOR_FILE = 'envoy-api.json'

/** protoc's default JSON name (the generator emits `j` only where the proto says otherwise). */
export function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}
