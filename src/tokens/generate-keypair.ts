import { generateKeyPair } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { AuthzError, errnoCode, errnoHint } from '../shared/errors.js'

const generate = promisify(generateKeyPair)

interface GeneratedKeyPair {
  readonly privateKeyFile: string
  readonly publicKeyFile: string
}

/** Writes an RSA keypair: the private key PKCS#8 with mode 0600, the public key SPKI beside it. */
export async function writeKeyPair(
  privateKeyFile: string,
  bits = 4096,
  publicKeyFile = join(dirname(privateKeyFile), 'public.pem'),
): Promise<GeneratedKeyPair> {
  // The directory first: a wrong one is found before seconds of key generation.
  await written(
    dirname(privateKeyFile),
    () => mkdir(dirname(privateKeyFile), { recursive: true, mode: 0o700 }),
    true,
  )
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  // flag 'wx': never overwrite an existing key.
  await written(privateKeyFile, () =>
    writeFile(privateKeyFile, privateKey, { mode: 0o600, flag: 'wx' }),
  )
  await written(publicKeyFile, () => writeFile(publicKeyFile, publicKey, { mode: 0o644 }))
  return { privateKeyFile, publicKeyFile }
}

/** A key file that cannot be written, as one error naming it and what to do. */
async function written(
  file: string,
  write: () => Promise<unknown>,
  directory = false,
): Promise<void> {
  try {
    await write()
  } catch (err) {
    const code = errnoCode(err)
    if (directory && code === 'EEXIST') {
      throw new AuthzError('ERR_FILE_UNWRITABLE', 'not a directory', {
        file,
        hint: 'name a directory, or one to create',
        cause: err,
      })
    }
    if (code === 'EEXIST') {
      throw new AuthzError('ERR_KEY_EXISTS', 'a key is already there', {
        file,
        hint: 'keys are never overwritten: choose another directory, or move the old key away',
        cause: err,
      })
    }
    throw new AuthzError('ERR_FILE_UNWRITABLE', `cannot write the key (${code ?? 'error'})`, {
      file,
      hint: errnoHint(code),
      cause: err,
    })
  }
}
