import { parseArgs } from 'node:util'
import type { RuleConfig } from '../config/schema.js'
import { EXIT_OK, UsageError } from './command.js'
import { loadForCheck } from './load-for-check.js'

function effect(rule: RuleConfig): string {
  if (rule.public) return 'public'
  if (rule.deny) return 'deny'
  return (rule.any_of ?? [])
    .map((alt) =>
      [
        alt.spiffe
          ? `spiffe(${[...(alt.spiffe.ids ?? []), ...(alt.spiffe.prefixes ?? []).map((p) => `${p}/**`), ...(alt.spiffe.trust_domains ?? []).map((t) => `td:${t}`)].join(', ')})`
          : undefined,
        alt.runner_token
          ? `runner_token(${alt.runner_token.session_param ? `{${alt.runner_token.session_param}}` : 'any session'})`
          : undefined,
      ]
        .filter(Boolean)
        .join(' and '),
    )
    .join(' OR ')
}

export async function run(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'check') throw new UsageError(`unknown subcommand '${sub ?? ''}'`)
  const { values, positionals } = parseArgs({
    args: rest,
    options: { json: { type: 'boolean', default: false } },
    allowPositionals: true,
  })
  const file = positionals[0]
  if (file === undefined || positionals.length > 1) throw new UsageError('expected one FILE')
  const { config, tokens, credentials } = await loadForCheck(file)
  const summary = {
    ok: true,
    file,
    valid: true,
    listen: config.listen,
    transport: config.transport,
    channel: config.tls
      ? { mtls: true, allowed_peers: config.tls.allowed_peers }
      : { mtls: false, warning: 'plaintext: local development only' },
    // Where the log hash key comes from (the file's name only: its content is a secret).
    log_hash_key: config.logging.hash_key_file ?? 'random per start',
    identity_source: config.identity.xfcc.enabled
      ? 'x-forwarded-client-cert'
      : 'connection.uri_san_peer_certificate',
    runner_token_keys: tokens?.resolver.currentKeyring.keys.map((k) => ({
      kid: k.kid,
      bits: k.bits,
      file: k.file,
    })),
    rules: config.policy.rules.map((r) => ({
      name: r.name,
      methods: r.methods ?? ['*'],
      path: r.path,
      hosts: r.hosts ?? ['*'],
      effect: effect(r),
    })),
  }
  credentials?.close()
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
    return EXIT_OK
  }
  const lines = [
    `${file}: valid`,
    `  listen ${summary.listen} (${summary.transport})`,
    `  channel: ${config.tls ? `mTLS, allowed peers ${config.tls.allowed_peers.join(', ')}` : 'plaintext (local development only)'}`,
    `  peer identity from ${summary.identity_source}`,
    `  log hash key: ${summary.log_hash_key}`,
    ...(summary.runner_token_keys ?? []).map(
      (k, i) =>
        `  runner token key ${i === 0 ? '(current)' : '(previous)'} kid=${k.kid} ${k.bits} bits ${k.file}`,
    ),
    `  ${summary.rules.length} rules (first match decides; no match = deny):`,
    ...summary.rules.map(
      (r, i) =>
        `    ${i + 1}. ${r.name}: ${r.methods.join('|')} ${r.path}${r.hosts[0] === '*' ? '' : ` hosts ${r.hosts.join(', ')}`} -> ${r.effect}`,
    ),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  return EXIT_OK
}
