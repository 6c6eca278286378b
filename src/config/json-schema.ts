import { z } from 'zod'
import { ConfigSchema } from './schema.js'

/** Where the generated schema lives in the repository (and in the npm package). */
export const CONFIG_SCHEMA_PATH = 'schema/config.schema.json'

export type JsonSchema = Record<string, unknown>

let cached: JsonSchema | undefined

/**
 * The JSON Schema of the config file, derived from the zod schema (the one source of truth).
 * `io: 'input'` describes what a person writes: keys with defaults are optional. Refinements
 * (SPIFFE ID syntax, path templates, duplicate rule names, "exactly one effect") have no JSON
 * Schema form; zod drops them, so editors check structure and `config check` checks the rest.
 */
export function configJsonSchema(): JsonSchema {
  cached ??= Object.freeze({
    ...z.toJSONSchema(ConfigSchema, {
      io: 'input',
      target: 'draft-2020-12',
      // A type with no JSON form (z.custom, z.instanceof) becomes "anything" in the schema rather
      // than breaking the build: runtime validation still checks it.
      unrepresentable: 'any',
    }),
    title: 'extproc-authz configuration',
  })
  return cached
}

/** The schema file's exact text: stable key order, two-space indent, trailing newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`
}
