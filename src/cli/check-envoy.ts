import { parseArgs } from 'node:util'
import { ConfigError } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import { checkBootstrap, DEFAULT_MIN_MESSAGE_TIMEOUT_MS } from '../envoy-check/check-bootstrap.js'
import type { Finding } from '../envoy-check/findings.js'
import { readBootstrap, UnreadableBootstrap } from '../envoy-check/read-bootstrap.js'
import { durationMs } from '../envoy-check/well-known.js'
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './command.js'

/** "500ms", "1s", "0.5s", "1500" (ms). */
function parseMilliseconds(text: string): number {
  const ms = text.endsWith('ms')
    ? Number(text.slice(0, -2))
    : /^\d+$/.test(text)
      ? Number(text)
      : durationMs(text)
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new UsageError(
      `--min-message-timeout: expected a duration like 500ms or 1s, got '${text}'`,
    )
  }
  return ms
}

/** What the processor config says the policy relies on; without --config, assume the most. */
async function policyFacts(file: string | undefined, xfccFlag: boolean) {
  if (file === undefined) return { peerIdentity: true, xfcc: xfccFlag }
  const config = await loadConfigFile(file)
  return {
    peerIdentity: config.policy.rules.some((r) =>
      (r.any_of ?? []).some((a) => a.spiffe !== undefined),
    ),
    xfcc: xfccFlag || config.identity.xfcc.enabled,
  }
}

function line(file: string, f: Finding): string {
  return `${file}:${f.path === '' ? '(root)' : f.path}: ${f.severity}: ${f.message} [${f.rule}]`
}

export const checkEnvoyCommand: Command = {
  name: 'check-envoy',
  summary: 'Check Envoy bootstraps against the Envoy API and the ext_proc fail-closed rules',
  usage: `Usage: extproc-authz check-envoy FILE... [options]

Validates each Envoy v3 bootstrap (.yaml, .yml, .json) strictly against the Envoy API protos
(unknown fields, wrong types, oneofs, typed_config @type resolved and checked), then the rules
that keep ext_proc failing closed. One line per finding: FILE:PATH: error|warning: message [rule].
Exit 0: no errors (warnings allowed); 1: errors; 2: usage or unreadable file.

Options:
  --config FILE               the extproc-authz config: whether the policy relies on SPIFFE
                              peer identity, whether XFCC identity is on (default: assume
                              peer identity, no XFCC)
  --xfcc                      the processor takes identity from x-forwarded-client-cert
  --min-message-timeout DUR   floor for ext_proc message_timeout (default ${DEFAULT_MIN_MESSAGE_TIMEOUT_MS}ms)
  --warnings-as-errors        exit 1 on warnings too
  --json                      machine-readable output
  -h, --help                  show this help`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        xfcc: { type: 'boolean', default: false },
        'min-message-timeout': { type: 'string' },
        'warnings-as-errors': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
      strict: true,
    })
    if (positionals.length === 0) throw new UsageError('expected at least one FILE')
    const floor = values['min-message-timeout']
    const minMessageTimeoutMs =
      floor === undefined ? DEFAULT_MIN_MESSAGE_TIMEOUT_MS : parseMilliseconds(floor)
    let facts: { peerIdentity: boolean; xfcc: boolean }
    try {
      facts = await policyFacts(values.config, values.xfcc ?? false)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      process.stderr.write(`${err.message}\n`)
      return EXIT_USAGE
    }
    const results: { file: string; findings: Finding[] }[] = []
    for (const file of positionals) {
      try {
        const raw = await readBootstrap(file)
        results.push({ file, findings: checkBootstrap(raw, { minMessageTimeoutMs, ...facts }) })
      } catch (err) {
        if (!(err instanceof UnreadableBootstrap)) throw err
        process.stderr.write(`extproc-authz check-envoy: ${err.message}\n`)
        return EXIT_USAGE
      }
    }
    const all = results.flatMap((r) => r.findings)
    const errors = all.filter((f) => f.severity === 'error').length
    const warnings = all.length - errors
    const failed = errors > 0 || (values['warnings-as-errors'] === true && warnings > 0)
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ files: results, errors, warnings, ok: !failed }, null, 2)}\n`,
      )
    } else {
      const lines = results.flatMap((r) => r.findings.map((f) => line(r.file, f)))
      lines.push(
        `check-envoy: ${results.length} file(s), ${errors} error(s), ${warnings} warning(s)${failed ? '' : ': ok'}`,
      )
      process.stdout.write(`${lines.join('\n')}\n`)
    }
    return failed ? EXIT_FAILURE : EXIT_OK
  },
}
