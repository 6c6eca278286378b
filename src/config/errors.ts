import type { z } from 'zod'
import { AuthzError, EXIT_FAILURE, type ExitCode, FileUnreadableError } from '../shared/errors.js'

export interface ConfigProblem {
  /** Dotted key path with [index] for list items, e.g. `policy.rules[2].path`; '' is the root. */
  readonly path: string
  readonly message: string
}

function render(problems: readonly ConfigProblem[], what: string, unreadable: boolean): string {
  const at = (p: ConfigProblem) => `${p.path === '' ? '(root)' : p.path}: ${p.message}`
  const [only] = problems
  if (problems.length === 1 && only !== undefined) {
    // A file that cannot be read at all: say so, not "invalid".
    if (unreadable) return only.message
    return `invalid ${what}: ${only.path === '' ? only.message : at(only)}`
  }
  return `invalid ${what}\n${problems.map((p) => `  ${at(p)}`).join('\n')}`
}

/**
 * A config that cannot be used: names the file and, for each problem, the key path. One problem
 * reads as one line, `file: invalid configuration: key.path: what is wrong`. Exit 1 (the file is
 * invalid); a file that cannot be read or parsed at all is unreadable input, exit 2, and carries
 * the code every unreadable input carries, ERR_FILE_UNREADABLE (FileUnreadableError.code).
 */
export class ConfigError extends AuthzError {
  static readonly code = 'ERR_CONFIG_INVALID'
  override readonly name = 'ConfigError'
  /** The first problem's key path ('' for the file as a whole). */
  override readonly keyPath: string | undefined

  constructor(
    file: string,
    readonly problems: readonly ConfigProblem[],
    {
      exitCode = EXIT_FAILURE,
      hint,
      what = 'configuration',
      unreadable = false,
    }: { exitCode?: ExitCode; hint?: string; what?: string; unreadable?: boolean } = {},
  ) {
    super(
      unreadable ? FileUnreadableError.code : ConfigError.code,
      render(problems, what, unreadable),
      {
        file,
        exitCode,
        ...(hint === undefined ? {} : { hint }),
      },
    )
    this.keyPath = problems[0]?.path
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), problems: this.problems }
  }
}

function formatKeyPath(path: readonly PropertyKey[]): string {
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
  const json = typeof input === 'string' ? JSON.stringify(input) : String(input)
  return `a ${typeof input} ${json.length > 60 ? `${json.slice(0, 57)}...` : json}`
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
