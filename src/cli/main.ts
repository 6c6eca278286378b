#!/usr/bin/env node
import cluster from 'node:cluster'
import { ConfigError } from '../config/errors.js'
import { certsCommand } from './certs.js'
import { checkEnvoyCommand } from './check-envoy.js'
import { type Command, EXIT_FAILURE, EXIT_USAGE, UsageError, wantsHelp } from './command.js'
import { configCommand } from './config-check.js'
import { keysCommand } from './keys.js'
import { policyCommand } from './policy-test.js'
import { serveCommand } from './serve.js'
import { tokenCommand } from './token.js'

const COMMANDS: readonly Command[] = [
  serveCommand,
  configCommand,
  policyCommand,
  keysCommand,
  tokenCommand,
  certsCommand,
  checkEnvoyCommand,
]

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `extproc-authz: Envoy ext_proc authorizer (SPIFFE identity, runner tokens, fail closed)

Usage: extproc-authz <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'extproc-authz <command> --help' for a command's options.`
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainHelp()}\n`)
    return name === undefined ? EXIT_USAGE : 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    process.stderr.write(`extproc-authz: unknown command '${name}'\n\n${mainHelp()}\n`)
    return EXIT_USAGE
  }
  if (wantsHelp(rest)) {
    process.stdout.write(`${command.usage}\n`)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      return EXIT_FAILURE
    }
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`extproc-authz ${name}: ${(err as Error).message}\n\n${command.usage}\n`)
      return EXIT_USAGE
    }
    throw err
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
  },
  (err: unknown) => {
    process.stderr.write(`extproc-authz: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exitCode = EXIT_FAILURE
    letGo()
  },
)
