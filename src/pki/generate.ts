// Test-time and lab PKI: CAs and X.509-SVIDs with @peculiar/x509 over WebCrypto (ECDSA P-256).
// Options produce the deliberately bad variants the channel-security tests must refuse.
import { webcrypto } from 'node:crypto'
import { AuthzError } from '../shared/errors.js'
import { x509 } from './x509.js'

type KeyPair = webcrypto.CryptoKeyPair

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY_MS = 86_400_000

export interface Issued {
  readonly cert: x509.X509Certificate
  readonly keys: KeyPair
  readonly certPem: string
  readonly keyPem: string
}

interface LeafOptions {
  readonly uris?: readonly string[]
  readonly dns?: readonly string[]
  readonly notBefore?: Date
  readonly notAfter?: Date
  /** Mark the leaf as a CA (a bad SVID). */
  readonly ca?: boolean
  /** Override key usage flags (default digitalSignature). */
  readonly keyUsage?: number
}

/** PEM ends with a newline: files concatenated into a bundle then parse as several blocks. */
function pemText(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`
}

async function toPem(keys: KeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return pemText(x509.PemConverter.encode(der, 'PRIVATE KEY'))
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString('hex')
}

export async function generateCa(name: string, days = 365): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { cert, keys, certPem: pemText(cert.toString('pem')), keyPem: await toPem(keys) }
}

/**
 * A CA read back from its certificate and PKCS#8 key (as generateCa wrote them), to issue new
 * leaves under the same trust bundle. Throws when the key is not the certificate's.
 */
export async function loadCa(certPem: string, keyPem: string): Promise<Issued> {
  const cert = new x509.X509Certificate(certPem)
  const der = x509.PemConverter.decodeFirst(keyPem)
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign'])
  const publicKey = await cert.publicKey.export(ALG, ['verify'], webcrypto)
  // Same curve point: the private key's JWK carries the public coordinates.
  const priv = await webcrypto.subtle.exportKey('jwk', privateKey)
  const pub = await webcrypto.subtle.exportKey('jwk', publicKey)
  if (priv.x !== pub.x || priv.y !== pub.y)
    throw new AuthzError('ERR_CA_KEY_MISMATCH', 'the CA key does not match the CA certificate')
  return {
    cert,
    keys: { privateKey, publicKey },
    certPem: pemText(certPem),
    keyPem: pemText(keyPem),
  }
}

/** An intermediate CA signed by `ca` (as SPIRE signs SVIDs under an upstream authority). */
export async function issueIntermediate(ca: Issued, name: string, days = 30): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  })
  return { cert, keys, certPem: cert.toString('pem'), keyPem: await toPem(keys) }
}

export async function issueLeaf(ca: Issued, opts: LeafOptions): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair
  const now = Date.now()
  const names: x509.JsonGeneralName[] = [
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
  ]
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.ca === true, undefined, true),
    new x509.KeyUsagesExtension(opts.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ]
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=svid',
    issuer: ca.cert.subject,
    notBefore: opts.notBefore ?? new Date(now - 60_000),
    notAfter: opts.notAfter ?? new Date(now + DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  })
  return { cert, keys, certPem: pemText(cert.toString('pem')), keyPem: await toPem(keys) }
}
