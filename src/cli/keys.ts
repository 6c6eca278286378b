import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeKeyPair } from '../tokens/generate-keypair.js'
import { loadKeyFile } from '../tokens/keyring.js'
import { type Command, EXIT_OK, UsageError } from './command.js'

export const keysCommand: Command = {
  name: 'keys',
  summary: 'Generate a runner-token keypair or print the public key',
  usage: `Usage: extproc-authz keys generate --out DIR [--bits 4096]
       extproc-authz keys public --private-key FILE [--jwk]

  generate   write DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem; never overwrites
  public     print the public key (PEM, or a JWK with its RFC 7638 kid) of a private key file
             (PKCS#8 or PKCS#1): what runners encrypt to`,
  async run(args) {
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
  },
}
