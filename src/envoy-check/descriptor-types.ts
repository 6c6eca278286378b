/**
 * The compact descriptor check-envoy ships in dist: just what strict proto3-JSON validation needs
 * (field names, types, cardinality, oneofs, enum names), built from the Envoy protos at build time
 * so the published package neither parses .proto files nor depends on @grpc/grpc-js-xds at runtime.
 */
export interface FieldDesc {
  /** Scalar name ('string', 'uint32', ...) or a fully qualified message/enum name without dot. */
  readonly t: string
  /** lowerCamel JSON name when it differs from the proto name. */
  readonly j?: string
  /** 1 when repeated. */
  readonly r?: 1
  /** Map key scalar type when the field is a map. */
  readonly k?: string
  /** The oneof the field belongs to. */
  readonly o?: string
}

export interface MessageDesc {
  readonly f: Readonly<Record<string, FieldDesc>>
}

export interface EnumDesc {
  readonly v: Readonly<Record<string, number>>
}

export interface EnvoyDescriptor {
  readonly messages: Readonly<Record<string, MessageDesc>>
  readonly enums: Readonly<Record<string, EnumDesc>>
}

/** Shipped next to the compiled loader: dist/src/envoy-check/envoy-api.json. */
export const DESCRIPTOR_FILE = 'envoy-api.json'
