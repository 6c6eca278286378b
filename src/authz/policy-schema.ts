// The validated policy as compilePolicy reads it: config/schema.ts defines the schema (with the
// condition kinds), and its output fits these shapes. authz sits below config (layer order).

/** Condition configs by kind name, e.g. `{ spiffe: { ids: [...] } }`. */
export type AlternativeDocument = Readonly<Record<string, unknown>>

export interface RuleDocument {
  readonly name: string
  readonly methods?: readonly string[] | undefined
  readonly path: string
  readonly hosts?: readonly string[] | undefined
  readonly public?: true | undefined
  readonly deny?: true | undefined
  readonly any_of?: readonly AlternativeDocument[] | undefined
}

export interface PolicyDocument {
  readonly rules: readonly RuleDocument[]
}
