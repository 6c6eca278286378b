/** A CLI subcommand: `extproc-authz <name> [args]`. Every command answers --help. */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  /** Returns the process exit code. */
  run(args: readonly string[]): Promise<number>
}

/** Exit codes shared by every command (CI-friendly). */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h')
}
