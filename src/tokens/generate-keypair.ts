import { generateKeyPair } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

export interface GeneratedKeyPair {
  readonly privateKeyFile: string
  readonly publicKeyFile: string
}

/** Writes an RSA keypair: the private key PKCS#8 with mode 0600, the public key SPKI beside it. */
export async function writeKeyPair(
  privateKeyFile: string,
  bits = 4096,
  publicKeyFile = join(dirname(privateKeyFile), 'public.pem'),
): Promise<GeneratedKeyPair> {
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  await mkdir(dirname(privateKeyFile), { recursive: true, mode: 0o700 })
  // flag 'wx': never overwrite an existing key.
  await writeFile(privateKeyFile, privateKey, { mode: 0o600, flag: 'wx' })
  await writeFile(publicKeyFile, publicKey, { mode: 0o644 })
  return { privateKeyFile, publicKeyFile }
}
