import type { z } from 'zod'

export interface ConfigProblem {
  /** Dotted key path with [index] for list items, e.g. `policy.rules[2].path`; '' is the root. */
  readonly path: string
  readonly message: string
}

/** A config that cannot be used: names the file and, for each problem, the key path. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'ERR_CONFIG_INVALID'

  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(
      `${file}: invalid configuration\n${problems
        .map((p) => `  ${p.path === '' ? '(root)' : p.path}: ${p.message}`)
        .join('\n')}`,
    )
  }
}

export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out === '' ? String(key) : `.${String(key)}`
  }
  return out
}

function describeFound(input: unknown): string {
  if (input === undefined) return 'nothing'
  if (input === null) return 'null'
  if (Array.isArray(input)) return 'a list'
  if (typeof input === 'object') return 'a mapping'
  const json = JSON.stringify(input)
  return `${typeof input} ${json.length > 60 ? `${json.slice(0, 57)}...` : json}`
}

/**
 * Turns zod issues into problems that say where, what was expected and what was found.
 * `removedKeys` maps a removed key's path to what replaced it (said instead of "unknown key").
 */
export function problemsFromZod(
  error: z.ZodError,
  removedKeys: Readonly<Record<string, string>> = {},
): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = formatKeyPath([...issue.path, key])
        out.push({
          path,
          message: Object.hasOwn(removedKeys, path)
            ? (removedKeys[path] as string)
            : 'unknown key (check its spelling and indentation)',
        })
      }
      continue
    }
    let message = issue.message
    if (issue.code === 'invalid_type') {
      message = `expected ${issue.expected}, found ${describeFound(issue.input)}`
    } else if (issue.code === 'invalid_value') {
      message = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describeFound(issue.input)}`
    } else if ('input' in issue && issue.input !== undefined && issue.code !== 'custom') {
      message = `${message}, found ${describeFound(issue.input)}`
    }
    out.push({ path: formatKeyPath(issue.path), message })
  }
  return out
}
