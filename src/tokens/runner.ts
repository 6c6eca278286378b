// For runners: build a token for a session from the service's public key.
import { constants, createPublicKey, type KeyObject, publicEncrypt } from 'node:crypto'
import { EncryptJWT } from 'jose'

function publicKeyOf(pem: string | Buffer | KeyObject): KeyObject {
  return typeof pem === 'object' && 'asymmetricKeyType' in pem ? pem : createPublicKey(pem)
}

/**
 * A raw runner token: base64 of RSA-OAEP (SHA-256 for OAEP and MGF1) over the UTF-8 session id,
 * the same as `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep -pkeyopt
 * rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256`. Send it as `Authorization: Bearer <token>`.
 */
export function createRunnerToken(
  publicKey: string | Buffer | KeyObject,
  sessionId: string,
): string {
  return publicEncrypt(
    { key: publicKeyOf(publicKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(sessionId, 'utf8'),
  ).toString('base64')
}

interface JweTokenOptions {
  /** Lifetime in seconds (exp = now + ttl). */
  readonly ttlSeconds: number
  readonly kid?: string
  readonly sessionClaim?: string
  readonly audience?: string
  readonly issuer?: string
  readonly enc?: 'A256GCM' | 'A128GCM'
}

/** A compact JWE (alg RSA-OAEP-256) carrying the session id claim and an exp. */
export async function createRunnerJwe(
  publicKey: string | Buffer | KeyObject,
  sessionId: string,
  opts: JweTokenOptions,
): Promise<string> {
  const jwt = new EncryptJWT({ [opts.sessionClaim ?? 'sid']: sessionId })
    .setProtectedHeader({
      alg: 'RSA-OAEP-256',
      enc: opts.enc ?? 'A256GCM',
      ...(opts.kid ? { kid: opts.kid } : {}),
    })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds)
  if (opts.audience) jwt.setAudience(opts.audience)
  if (opts.issuer) jwt.setIssuer(opts.issuer)
  return jwt.encrypt(publicKeyOf(publicKey))
}
