// The project's one error base: a stable machine `code`, where the problem is (a file, a config
// key path, a command-line flag) as data, what to do about it, and the exit code the CLI ends
// with. Callers branch on `code` and read `keyPath`, never on the wording of `message`.

import type { ErrorCode } from './error-codes.js'

export type { ErrorCode } from './error-codes.js'

/** Exit codes shared by every command (scripts and CI rely on them; docs/cli.md lists them). */
export const EXIT_OK = 0
/** A runtime failure, or the thing checked is invalid (config check, failed expectations). */
export const EXIT_FAILURE = 1
/** Usage error, or an input named on the command line that cannot be read or parsed. */
export const EXIT_USAGE = 2

export type ExitCode = typeof EXIT_FAILURE | typeof EXIT_USAGE

export interface AuthzErrorOptions {
  /** The file the problem is in or about. */
  readonly file?: string
  /** Dotted config key path with [index] for list items, e.g. `tls.bundles.example.org`. */
  readonly keyPath?: string
  /** The command-line flag at fault, e.g. `--listen`. */
  readonly flag?: string
  /** What to do about it, in a few words. */
  readonly hint?: string
  readonly exitCode?: ExitCode
  readonly cause?: unknown
}

/**
 * The base of every error the project throws. A subclass names its code once, as jose's errors
 * do: `static readonly code` on the class, the same `code` on each instance.
 */
export class AuthzError extends Error {
  override readonly name: string = 'AuthzError'
  readonly file: string | undefined
  readonly keyPath: string | undefined
  readonly flag: string | undefined
  readonly hint: string | undefined
  readonly exitCode: ExitCode

  constructor(
    /** Stable, e.g. ERR_CONFIG_INVALID; one of ERROR_CODES, never reworded once published. */
    readonly code: ErrorCode,
    /** What is wrong, without the location (that is `file`, `keyPath` or `flag`). */
    readonly problem: string,
    options: AuthzErrorOptions = {},
  ) {
    super(locate(problem, options), options.cause === undefined ? {} : { cause: options.cause })
    this.file = options.file
    this.keyPath = options.keyPath
    this.flag = options.flag
    this.hint = options.hint
    this.exitCode = options.exitCode ?? EXIT_FAILURE
  }

  /** The one line the CLI prints: location, problem, and what to do. */
  line(): string {
    return this.hint === undefined ? this.message : `${this.message} (${this.hint})`
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.problem,
      ...(this.file === undefined ? {} : { file: this.file }),
      ...(this.keyPath === undefined ? {} : { key_path: this.keyPath }),
      ...(this.flag === undefined ? {} : { flag: this.flag }),
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      exit_code: this.exitCode,
    }
  }
}

/** `file: key.path: problem`, `--flag: problem`, `--flag file: problem`, or the problem alone. */
function locate(problem: string, o: AuthzErrorOptions): string {
  // A file given with a flag reads as typed: `--public-key k.pem: not a PEM public key`.
  const named = o.flag !== undefined && o.file !== undefined ? `${o.flag} ${o.file}` : undefined
  const where = [
    named ?? o.file,
    o.keyPath === '' ? undefined : o.keyPath,
    named === undefined ? o.flag : undefined,
  ].filter((p): p is string => p !== undefined)
  return [...where, problem].join(': ')
}

/** The errno code of a failed file-system call (`ENOENT`), else undefined. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined
}

/** What to do about a failed file-system call, by its errno code. */
export function errnoHint(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file: check the path'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: check the file mode and owner'
    case 'EISDIR':
      return 'it is a directory: name a file'
    case 'ENOTDIR':
      return 'a part of the path is not a directory'
    case 'EEXIST':
      return 'it already exists'
    case 'EROFS':
      return 'read-only file system'
    default:
      return 'check the path'
  }
}

/** An input file that cannot be read or parsed at all: exit 2 unless told otherwise. */
export class FileUnreadableError extends AuthzError {
  static readonly code = 'ERR_FILE_UNREADABLE'
  override readonly name: string = 'FileUnreadableError'
  constructor(problem: string, options: AuthzErrorOptions = {}) {
    super(FileUnreadableError.code, problem, { exitCode: EXIT_USAGE, ...options })
  }
}

/**
 * A file named on the command line that cannot be read: exit 2, like an unreadable check-envoy
 * input. `file: cannot read the file (ENOENT) (no such file: check the path)`.
 */
export function unreadableFile(
  file: string,
  err: unknown,
  options: AuthzErrorOptions = {},
): FileUnreadableError {
  const code = errnoCode(err)
  return new FileUnreadableError(`cannot read the file (${code ?? 'error'})`, {
    file,
    hint: errnoHint(code),
    cause: err,
    ...options,
  })
}
