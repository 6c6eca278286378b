import { AuthzError, EXIT_USAGE } from '../shared/errors.js'

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../shared/errors.js'

/** What a subcommand module exports: runs with the arguments after its name. */
type RunCommand = (args: readonly string[]) => Promise<number>

/**
 * A CLI subcommand: `extproc-authz <name> [args]`. Name, summary and usage are plain data, so
 * `--help` reads them without loading the command (`load` imports it on use).
 */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  load(): Promise<RunCommand>
}

/** A command line that cannot be run as written: exit 2, with the command's usage. */
export class UsageError extends AuthzError {
  static readonly code = 'ERR_USAGE'
  override readonly name = 'UsageError'
  constructor(problem: string, { flag, hint }: { flag?: string; hint?: string } = {}) {
    super(UsageError.code, problem, {
      exitCode: EXIT_USAGE,
      ...(flag === undefined ? {} : { flag }),
      ...(hint === undefined ? {} : { hint }),
    })
  }
}

export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  const options = end === -1 ? args : args.slice(0, end)
  return options.includes('--help') || options.includes('-h')
}
