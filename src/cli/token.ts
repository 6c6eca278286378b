import { parseArgs } from 'node:util'
import { RunnerTokensSchema } from '../tokens/config-schema.js'
import { loadKeyring } from '../tokens/keyring.js'
import { createRunnerJwe, createRunnerToken } from '../tokens/runner.js'
import { RunnerTokenResolver } from '../tokens/runner-token-resolver.js'
import { EXIT_FAILURE, EXIT_OK, UsageError } from './command.js'
import { readPublicKey } from './read-input.js'

const DURATION = /^(\d+)(s|m|h|d)$/
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

function parseTtl(ttl: string): number {
  const m = DURATION.exec(ttl)
  if (!m) throw new UsageError(`--ttl: expected e.g. 90s, 15m, 1h, found "${ttl}"`)
  return Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number)
}

export async function run(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'encrypt') {
    const { values } = parseArgs({
      args: rest,
      options: {
        'public-key': { type: 'string' },
        'session-id': { type: 'string' },
        jwe: { type: 'boolean', default: false },
        ttl: { type: 'string', default: '1h' },
        kid: { type: 'string' },
      },
    })
    const file = values['public-key']
    const sessionId = values['session-id']
    if (!file || !sessionId) throw new UsageError('--public-key and --session-id are required')
    const pem = await readPublicKey(file, '--public-key')
    const token = values.jwe
      ? await createRunnerJwe(pem, sessionId, {
          ttlSeconds: parseTtl(values.ttl),
          ...(values.kid ? { kid: values.kid } : {}),
        })
      : createRunnerToken(pem, sessionId)
    process.stdout.write(`${token}\n`)
    return EXIT_OK
  }
  if (sub === 'decrypt') {
    const { values } = parseArgs({
      args: rest,
      options: { 'private-key': { type: 'string' }, token: { type: 'string' } },
    })
    const file = values['private-key']
    if (!file || values.token === undefined)
      throw new UsageError('--private-key and --token are required')
    const config = RunnerTokensSchema.parse({ private_keys: [file] })
    const resolver = new RunnerTokenResolver(await loadKeyring([file]), config)
    const credential = await resolver.resolve({ bearer: values.token.trim() })
    if (credential.state === 'valid') {
      process.stdout.write(`${credential.sessionId}\n`)
      return EXIT_OK
    }
    process.stderr.write(`${credential.state === 'failed' ? credential.reason : 'token_missing'}\n`)
    return EXIT_FAILURE
  }
  throw new UsageError(`unknown subcommand '${sub ?? ''}'`)
}
