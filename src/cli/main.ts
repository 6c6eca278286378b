#!/usr/bin/env node
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { AuthzError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../shared/errors.js'
import { type Command, UsageError, wantsHelp } from './command.js'
import { COMMANDS } from './commands.js'

// The CLI's one error boundary: every failure ends here as one line on stderr (or one JSON
// object on stdout with --json) and an exit code; a stack trace only with --debug.

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `extproc-authz: Envoy ext_proc authorizer (SPIFFE identity, runner tokens, fail closed)

Usage: extproc-authz <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --debug (print the stack trace of a failure); with --json a failure is
reported as JSON on stdout. 'extproc-authz --version' prints the version.
Run 'extproc-authz <command> --help' for a command's options.
Exit codes: 0 ok; 1 runtime failure or invalid input checked; 2 usage or unreadable input;
probe exits 3 on a deny (docs/cli.md).`
}

function version(): string {
  // dist/src/cli/main.js -> the package root.
  const pkg = JSON.parse(
    readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as { version?: string }
  return `extproc-authz ${pkg.version ?? 'unknown'}`
}

/** Options before `--`: --debug is the boundary's, taken out; --json is left to the command. */
function globalFlags(argv: readonly string[]): { args: string[]; debug: boolean; json: boolean } {
  const end = argv.indexOf('--')
  const head = end === -1 ? [...argv] : argv.slice(0, end)
  const tail = end === -1 ? [] : argv.slice(end)
  return {
    args: [...head.filter((a) => a !== '--debug'), ...tail],
    debug: head.includes('--debug'),
    json: head.includes('--json'),
  }
}

/** Any thrown value as the project's error: known ones as they are, the rest as a defect. */
function asAuthzError(err: unknown): AuthzError {
  if (err instanceof AuthzError) return err
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    // node:util parseArgs: unknown option, missing value, unexpected argument.
    // Its advice on positionals that start with '-' would only confuse: keep the first sentence.
    const first = (err as Error).message.split('\n')[0]?.split('. To specify')[0]
    return new UsageError(first ?? 'invalid arguments')
  }
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return new AuthzError('ERR_INTERNAL', `unexpected error: ${message}`, {
    hint: 'run with --debug for the stack trace, and please report it',
    cause: err,
  })
}

function report(
  command: Command,
  err: unknown,
  { debug, json }: { debug: boolean; json: boolean },
): number {
  const e = asAuthzError(err)
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ok: false, command: command.name, error: e.toJSON() }, null, 2)}\n`,
    )
  } else {
    const help = e instanceof UsageError ? ` (see 'extproc-authz ${command.name} --help')` : ''
    process.stderr.write(`extproc-authz ${command.name}: ${e.line()}${help}\n`)
  }
  if (debug) {
    const original = e.code === 'ERR_INTERNAL' ? e.cause : e
    process.stderr.write(`${original instanceof Error ? original.stack : String(original)}\n`)
  }
  return e.exitCode
}

export async function main(argv: readonly string[]): Promise<number> {
  const { args, debug, json } = globalFlags(argv)
  const [name, ...rest] = args
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainHelp()}\n`)
    return name === undefined ? EXIT_USAGE : EXIT_OK
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    process.stderr.write(`extproc-authz: unknown command '${name}'\n\n${mainHelp()}\n`)
    return EXIT_USAGE
  }
  if (wantsHelp(rest)) {
    process.stdout.write(`${command.usage}\n`)
    return EXIT_OK
  }
  try {
    const run = await command.load()
    return await run(rest)
  } catch (err) {
    return report(command, err, { debug, json })
  }
}

/**
 * A cluster worker's IPC channel keeps it alive: once its command is over, let go of it, or a
 * worker whose start failed would stay up doing nothing and the primary would never see it die.
 */
function letGo(): void {
  if (cluster.isWorker && cluster.worker?.isConnected()) cluster.worker.disconnect()
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    letGo()
    // A command that failed may have left a listener or a timer behind (a start that failed
    // half-way): it must not keep the process up. Exit once the output is flushed.
    if (code !== EXIT_OK) process.stdout.write('', () => process.exit(code))
  },
  (err: unknown) => {
    process.stderr.write(`extproc-authz: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exitCode = EXIT_FAILURE
    letGo()
  },
)
