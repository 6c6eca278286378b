// Loads the serving pair and per-trust-domain bundles from files into what any transport needs:
// Node SecureContextOptions (TLS 1.3 only, client certs required, CA = union of allowed domains'
// bundles for the handshake) and the PeerPolicy verifyPeer applies per trust domain afterwards.
import { constants, createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { SecureContextOptions } from 'node:tls'
import { parseSpiffeId, type SpiffeIdMatcher } from '../identity/spiffe-id.js'
import { AuthzError, errnoCode, errnoHint } from '../shared/errors.js'
import { chainsTo, type PeerPolicy } from './verify-peer.js'
import { x509 } from './x509.js'

export interface TlsFilesConfig {
  readonly cert_file: string
  readonly key_file: string
  readonly bundles: Readonly<Record<string, string>>
  readonly allowed_peers: readonly string[]
}

export interface ServingTls {
  readonly secureContextOptions: SecureContextOptions & {
    requestCert: true
    rejectUnauthorized: true
  }
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca: Buffer
  readonly policy: PeerPolicy
  /** Seconds until the serving certificate expires (negative once expired). */
  secondsUntilExpiry(): number
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

function splitPem(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((p) => new X509Certificate(p))
}

function toMatchers(allowed: readonly string[]): SpiffeIdMatcher[] {
  return allowed.map((a) => {
    if (a.startsWith('spiffe://')) {
      const p = parseSpiffeId(a)
      if (!p.ok) {
        throw new AuthzError('ERR_CONFIG_INVALID', `${a}: ${p.error}`, {
          keyPath: 'tls.allowed_peers',
        })
      }
      return p.id.path === ''
        ? { kind: 'trust_domain', trustDomain: p.id.trustDomain }
        : { kind: 'exact', id: p.id.uri }
    }
    return { kind: 'trust_domain', trustDomain: a }
  })
}

/** A TLS file that cannot be used, naming the file and its config key. */
function tlsFileError(file: string, keyPath: string, problem: string, hint: string): AuthzError {
  return new AuthzError('ERR_TLS_FILE_INVALID', problem, { file, keyPath, hint })
}

function readTlsFile(file: string, keyPath: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    const code = errnoCode(err)
    throw tlsFileError(file, keyPath, `cannot read (${code ?? 'error'})`, errnoHint(code))
  }
}

/**
 * Reads and checks the files one by one, so a failure names the file and its key (`tls.key_file`),
 * then builds the serving state; what only the pair shows (a mismatch, a chain that does not
 * lead to the bundle) names `tls.cert_file`.
 */
export function loadServingTls(cfg: TlsFilesConfig): ServingTls {
  const cert = readTlsFile(cfg.cert_file, 'tls.cert_file')
  const key = readTlsFile(cfg.key_file, 'tls.key_file')
  try {
    new X509Certificate(cert)
  } catch {
    throw tlsFileError(cfg.cert_file, 'tls.cert_file', 'not a PEM certificate', PEM_HINT)
  }
  try {
    createPrivateKey(key)
  } catch {
    throw tlsFileError(cfg.key_file, 'tls.key_file', 'not a PEM private key', PEM_HINT)
  }
  const bundles = new Map<string, string>()
  for (const [td, file] of Object.entries(cfg.bundles)) {
    const pem = readTlsFile(file, `tls.bundles.${td}`).toString('utf8')
    if (splitPem(pem).length === 0) {
      throw tlsFileError(file, `tls.bundles.${td}`, 'holds no PEM certificate', PEM_HINT)
    }
    bundles.set(td, pem)
  }
  try {
    return servingTlsFromPem(
      cert,
      key,
      bundles,
      cfg.allowed_peers,
      `${cfg.cert_file} and ${cfg.key_file}`,
    )
  } catch (err) {
    // A problem that names its own key (tls.allowed_peers) keeps it.
    if (err instanceof AuthzError && err.keyPath !== undefined) throw err
    throw new AuthzError('ERR_TLS_FILE_INVALID', (err as Error).message, {
      keyPath: 'tls.cert_file',
      hint: 'issue a certificate that matches its key and chains to the bundle',
      cause: err,
    })
  }
}

const PEM_HINT = 'check the file names in tls (certs generate writes a lab set)'

/** The trust domain of a leaf with exactly one SPIFFE ID URI SAN. */
function trustDomainOf(leaf: X509Certificate): string | undefined {
  const ext = new x509.X509Certificate(leaf.raw).getExtension(x509.SubjectAlternativeNameExtension)
  const uris = ext?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? []
  if (uris.length !== 1) return undefined
  const parsed = parseSpiffeId(uris[0] as string)
  return parsed.ok ? parsed.id.trustDomain : undefined
}

/**
 * Envoy verifies our certificate against the bundle of our trust domain: one it cannot verify
 * (issued by another CA, expired, not yet valid) would fail every new connection. Refused here, so
 * a bad rotation keeps the working pair and a bad start fails at once. When we hold no bundle for
 * our own trust domain (no SPIFFE ID, or only the peers' domains configured), only the validity
 * period can be checked: the issuer is then a matter between us and Envoy's configuration.
 */
function checkServingChain(
  cert: Buffer,
  leaf: X509Certificate,
  bundles: ReadonlyMap<string, readonly X509Certificate[]>,
  source: string,
): void {
  const now = new Date()
  const td = trustDomainOf(leaf)
  const roots = td === undefined ? undefined : bundles.get(td)
  if (roots === undefined) {
    if (new Date(leaf.validFrom) > now || now > new Date(leaf.validTo)) {
      throw new AuthzError('ERR_TLS_INVALID', `${source}: the certificate is not valid now`)
    }
    return
  }
  const chain = splitPem(cert.toString('latin1'))
  if (!chainsTo(chain.length > 0 ? chain : [leaf], roots, now)) {
    throw new AuthzError(
      'ERR_TLS_INVALID',
      `${source}: the certificate is not valid now or does not chain to the bundle of its ` +
        `trust domain ${td}`,
    )
  }
}

/** Builds the serving TLS state from PEM in memory (files or the SPIFFE Workload API). */
export function servingTlsFromPem(
  cert: Buffer,
  key: Buffer,
  bundlePems: ReadonlyMap<string, string>,
  allowedPeers: readonly string[],
  source: string,
): ServingTls {
  const leaf = new X509Certificate(cert)
  // Fail closed at start on a mismatched pair rather than at the first handshake.
  if (!leaf.checkPrivateKey(createPrivateKey(key))) {
    throw new AuthzError('ERR_TLS_INVALID', `${source}: certificate and key do not match`)
  }
  const bundles = new Map<string, X509Certificate[]>()
  const pems: string[] = []
  for (const [td, pem] of bundlePems) {
    const certs = splitPem(pem)
    if (certs.length === 0) {
      throw new AuthzError('ERR_TLS_INVALID', `${source}: bundle for ${td} holds no certificate`)
    }
    bundles.set(td, certs)
    pems.push(pem)
  }
  checkServingChain(cert, leaf, bundles, source)
  const ca = Buffer.from(pems.join('\n'))
  const notAfter = new Date(leaf.validTo).getTime()
  return {
    // Every option spelled out: setSecureContext() resets anything omitted to Node's default.
    secureContextOptions: {
      cert,
      key,
      ca,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      // No session resumption: a resumed TLS session presents the peer's leaf alone, so an SVID
      // issued by an intermediate CA could not be verified on its chain and a reconnecting Envoy
      // (its upstream TLS resumes sessions by default) would be refused. Envoy's connections are
      // long-lived: a full handshake each costs nothing that matters.
      secureOptions: constants.SSL_OP_NO_TICKET,
    },
    cert,
    key,
    ca,
    policy: { bundles, allowed: toMatchers(allowedPeers) },
    secondsUntilExpiry: () => Math.floor((notAfter - Date.now()) / 1000),
  }
}
