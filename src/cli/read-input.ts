// Files named on the command line: read with a bound, parsed once, and every failure one
// AuthzError naming the file and the flag (exit 2: unreadable input).
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { AuthzError, EXIT_USAGE, unreadableFile } from '../shared/errors.js'

/** Keys and certificate bundles are a few KiB; anything far larger is the wrong file. */
const MAX_INPUT_BYTES = 1024 * 1024

export async function readInputFile(file: string, flag?: string): Promise<Buffer> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw unreadableFile(file, err, flag === undefined ? {} : { flag })
  }
  if (buf.length > MAX_INPUT_BYTES) {
    throw new AuthzError('ERR_FILE_TOO_LARGE', `larger than ${MAX_INPUT_BYTES} bytes`, {
      file,
      ...(flag === undefined ? {} : { flag }),
      hint: 'name the PEM file itself',
      exitCode: EXIT_USAGE,
    })
  }
  return buf
}

function invalid(file: string, flag: string, problem: string, hint: string): AuthzError {
  return new AuthzError('ERR_INPUT_INVALID', problem, { file, flag, hint, exitCode: EXIT_USAGE })
}

/** An RSA public key (SPKI or PKCS#1 PEM); a private key file yields its public half. */
export async function readPublicKey(file: string, flag: string): Promise<KeyObject> {
  const pem = await readInputFile(file, flag)
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    throw invalid(
      file,
      flag,
      'not a PEM public key',
      "give the public.pem 'keys generate' wrote, or the output of 'keys public'",
    )
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw invalid(
      file,
      flag,
      `expected an RSA key, found ${key.asymmetricKeyType}`,
      'runner tokens use RSA-OAEP',
    )
  }
  return key
}

/** A PEM private key, checked to parse (TLS client keys). */
export async function readPrivateKeyPem(file: string, flag: string): Promise<Buffer> {
  const pem = await readInputFile(file, flag)
  try {
    createPrivateKey(pem)
  } catch {
    throw invalid(file, flag, 'not a PEM private key', 'give the key file of the certificate')
  }
  return pem
}

/** PEM certificates, checked to hold at least one that parses. */
export async function readCertificatesPem(file: string, flag: string): Promise<Buffer> {
  const pem = await readInputFile(file, flag)
  try {
    new X509Certificate(pem)
  } catch {
    throw invalid(file, flag, 'not a PEM certificate', 'give a file of BEGIN CERTIFICATE blocks')
  }
  return pem
}
