import { parseArgs } from 'node:util'
import { ConfigError } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import {
  type CheckOptions,
  checkBootstrap,
  DEFAULT_MIN_MESSAGE_TIMEOUT_MS,
} from '../envoy-check/check-bootstrap.js'
import type { Finding } from '../envoy-check/findings.js'
import { apiVersion } from '../envoy-check/load-descriptor.js'
import { readBootstrap } from '../envoy-check/read-bootstrap.js'
import type { Position } from '../envoy-check/source-positions.js'
import { durationMs } from '../envoy-check/well-known.js'
import { FileUnreadableError } from '../shared/errors.js'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './command.js'

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

type PolicyFacts = Pick<
  CheckOptions,
  'peerIdentity' | 'xfcc' | 'identityHeaders' | 'metadataNamespace'
>

/** What the processor config says the policy relies on; without --config, assume the most. */
async function policyFacts(file: string | undefined, xfccFlag: boolean): Promise<PolicyFacts> {
  if (file === undefined) return { peerIdentity: true, xfcc: xfccFlag }
  const config = await loadConfigFile(file)
  return {
    peerIdentity: config.policy.rules.some((r) =>
      (r.any_of ?? []).some((a) => a.spiffe !== undefined),
    ),
    xfcc: xfccFlag || config.identity.xfcc.enabled,
    identityHeaders: [config.headers.spiffe_id, config.headers.session_id],
    metadataNamespace: config.decision_metadata.enabled
      ? config.decision_metadata.namespace
      : undefined,
  }
}

type Located = Finding & Position

function line(file: string, f: Located): string {
  return `${file}:${f.line}:${f.column}: ${f.severity}: ${f.message} [${f.rule}]`
}

/** A defect in a rule must not read as "ok" or as a stack trace: it is an error finding. */
function checkOne(value: unknown, options: CheckOptions): Finding[] {
  try {
    return checkBootstrap(value, options)
  } catch (err) {
    return [
      {
        severity: 'error',
        path: '',
        rule: 'check-envoy-internal',
        message: `check-envoy could not finish checking this file (${err instanceof Error ? err.message : String(err)}); please report it`,
      },
    ]
  }
}

function apiLabel(): string {
  const api = apiVersion()
  return `Envoy API ${api.envoy} (${api.source})`
}

export async function run(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string' },
      xfcc: { type: 'boolean', default: false },
      'min-message-timeout': { type: 'string' },
      'warnings-as-errors': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.version) {
    process.stdout.write(`check-envoy: ${apiLabel()}\n`)
    return EXIT_OK
  }
  if (positionals.length === 0) throw new UsageError('expected at least one FILE')
  const floor = values['min-message-timeout']
  const minMessageTimeoutMs =
    floor === undefined ? DEFAULT_MIN_MESSAGE_TIMEOUT_MS : parseMilliseconds(floor)
  let facts: PolicyFacts
  try {
    facts = await policyFacts(values.config, values.xfcc ?? false)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    // The processor config is an input here, not the thing checked: exit 2 whatever is wrong.
    throw new ConfigError(err.file ?? '', err.problems, {
      exitCode: EXIT_USAGE,
      ...(err.hint === undefined ? {} : { hint: err.hint }),
      unreadable: err.code === FileUnreadableError.code,
    })
  }
  const results: { file: string; findings: Located[] }[] = []
  for (const file of positionals) {
    // An UnreadableBootstrap ends the run at the CLI boundary: one line, exit 2.
    const source = await readBootstrap(file)
    const findings = checkOne(source.value, { minMessageTimeoutMs, ...facts })
      .map((f) => ({ ...f, ...source.positions.of(f.path) }))
      .sort((a, b) => a.line - b.line || a.column - b.column)
    results.push({ file, findings })
  }
  const all = results.flatMap((r) => r.findings)
  const errors = all.filter((f) => f.severity === 'error').length
  const warnings = all.length - errors
  const failed = errors > 0 || (values['warnings-as-errors'] === true && warnings > 0)
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ api: apiVersion(), files: results, errors, warnings, ok: !failed }, null, 2)}\n`,
    )
  } else {
    const lines = results.flatMap((r) => r.findings.map((f) => line(r.file, f)))
    lines.push(
      `check-envoy: ${results.length} file(s), ${errors} error(s), ${warnings} warning(s)${failed ? '' : ': ok'} [${apiLabel()}]`,
    )
    process.stdout.write(`${lines.join('\n')}\n`)
  }
  return failed ? EXIT_FAILURE : EXIT_OK
}
