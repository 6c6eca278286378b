import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { AuthzError } from '../shared/errors.js'
import { writeKeyPair } from '../tokens/generate-keypair.js'
import { loadKeyFile } from '../tokens/keyring.js'
import { EXIT_OK, UsageError } from './command.js'

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  )

export async function run(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === 'generate') {
    const { values } = parseArgs({
      args: rest,
      options: { out: { type: 'string' }, bits: { type: 'string', default: '4096' } },
    })
    if (!values.out) throw new UsageError('--out DIR is required')
    const bits = Number(values.bits)
    if (![2048, 3072, 4096].includes(bits))
      throw new UsageError('--bits must be 2048, 3072 or 4096')
    const privateFile = join(values.out, 'private.pem')
    // Found before the (seconds-long) key generation, not after.
    if (await exists(privateFile)) {
      throw new AuthzError('ERR_KEY_EXISTS', 'a key is already there', {
        file: privateFile,
        hint: 'keys are never overwritten: choose another --out, or move the old key away',
      })
    }
    const pair = await writeKeyPair(
      join(values.out, 'private.pem'),
      bits,
      join(values.out, 'public.pem'),
    )
    process.stdout.write(
      `private key: ${pair.privateKeyFile} (mode 0600)\npublic key:  ${pair.publicKeyFile}\n`,
    )
    return EXIT_OK
  }
  if (sub === 'public') {
    const { values } = parseArgs({
      args: rest,
      options: { 'private-key': { type: 'string' }, jwk: { type: 'boolean', default: false } },
    })
    const file = values['private-key']
    if (!file) throw new UsageError('--private-key FILE is required')
    const key = await loadKeyFile(file)
    if (values.jwk) {
      const jwk = {
        ...key.publicKey.export({ format: 'jwk' }),
        kid: key.kid,
        alg: 'RSA-OAEP-256',
        use: 'enc',
      }
      process.stdout.write(`${JSON.stringify(jwk)}\n`)
    } else {
      process.stdout.write(String(key.publicKey.export({ type: 'spki', format: 'pem' })))
    }
    return EXIT_OK
  }
  throw new UsageError(`unknown subcommand '${sub ?? ''}'`)
}
