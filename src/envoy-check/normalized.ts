// The validated bootstrap as the rules see it.

export type Json = Record<string, unknown>

/**
 * Validated document: every message re-keyed by proto field name (snake_case) and every Any
 * expanded to `{'@type': 'full.Name', ...fields}`, so rules need not care how the file spelled
 * things. `pathOf` maps each message object back to its path as written in the file.
 */
export interface Normalized {
  readonly value: Json
  readonly pathOf: WeakMap<object, string>
  /** For each message object, proto field name -> the key as the file spelled it. */
  readonly keysOf: WeakMap<object, ReadonlyMap<string, string>>
  /** For each message object, its full message type name. */
  readonly typeOf: WeakMap<object, string>
}

export function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The message name an Any's @type names (type.googleapis.com/NAME, any host prefix). */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1)
}
