// Transport-agnostic X.509-SVID peer check: any transport (grpc-js, node:http2) hands us the peer's
// DER chain (leaf first). The chain is verified against the bundle of the leaf's OWN trust domain,
// never one flat pool, and key-usage bits are read with @peculiar/x509 (Node does not expose them).
import { X509Certificate } from 'node:crypto'
import { matchesSpiffeId, parseSpiffeId, type SpiffeIdMatcher } from '../identity/spiffe-id.js'
import { x509 } from './x509.js'

const MAX_CHAIN = 8 // bound work before any signature check
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

type PeerVerdict =
  | { readonly ok: true; readonly spiffeId: string }
  | { readonly ok: false; readonly reason: string; readonly presented: string }

export interface PeerPolicy {
  /** trust domain -> its CA certificates */
  readonly bundles: ReadonlyMap<string, readonly X509Certificate[]>
  readonly allowed: readonly SpiffeIdMatcher[]
  readonly now?: () => Date
}

function uriSans(leaf: x509.X509Certificate): string[] {
  const ext = leaf.getExtension(x509.SubjectAlternativeNameExtension)
  if (ext === null) return []
  return ext.names.items.filter((n) => n.type === 'url').map((n) => n.value)
}

function checkLeafShape(leaf: x509.X509Certificate): string | undefined {
  const bc = leaf.getExtension(x509.BasicConstraintsExtension)
  if (bc?.ca === true) return 'leaf is a CA certificate'
  const ku = leaf.getExtension(x509.KeyUsagesExtension)
  if (ku === null) return 'leaf has no key usage'
  if ((ku.usages & x509.KeyUsageFlags.digitalSignature) === 0)
    return 'key usage lacks digitalSignature'
  if ((ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0) {
    return 'key usage has keyCertSign or cRLSign'
  }
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension)
  if (eku !== null && !eku.usages.map(String).includes(EKU_CLIENT_AUTH))
    return 'EKU lacks clientAuth'
  return undefined
}

function within(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo)
}

/** The chain (leaf first) is valid now and its top is issued by one of `roots`. */
export function chainsTo(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
): boolean {
  for (const c of chain) if (!within(c, now)) return false
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as X509Certificate
    const parent = chain[i + 1] as X509Certificate
    if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) return false
  }
  const top = chain[chain.length - 1] as X509Certificate
  return roots.some((r) => within(r, now) && top.checkIssued(r) && top.verify(r.publicKey))
}

export function verifyPeer(derChain: readonly Uint8Array[], policy: PeerPolicy): PeerVerdict {
  if (derChain.length === 0) return { ok: false, reason: 'no client certificate', presented: '' }
  if (derChain.length > MAX_CHAIN) return { ok: false, reason: 'chain too long', presented: '' }
  let leaf: x509.X509Certificate
  let nodeChain: X509Certificate[]
  try {
    leaf = new x509.X509Certificate(derChain[0] as Uint8Array)
    nodeChain = derChain.map((d) => new X509Certificate(d))
  } catch {
    return { ok: false, reason: 'unparsable certificate', presented: '' }
  }
  const uris = uriSans(leaf)
  const presented = uris.join(',') || leaf.subject
  if (uris.length !== 1) return { ok: false, reason: `${uris.length} URI SANs`, presented }
  const parsed = parseSpiffeId(uris[0] as string)
  if (!parsed.ok) return { ok: false, reason: `not a SPIFFE ID: ${parsed.error}`, presented }
  // X509-SVID.md §2: the ID names a workload, so it has a path; the bare trust domain ID is none.
  if (parsed.id.path === '') return { ok: false, reason: 'SPIFFE ID has no path', presented }
  const shape = checkLeafShape(leaf)
  if (shape !== undefined) return { ok: false, reason: shape, presented }
  const roots = policy.bundles.get(parsed.id.trustDomain)
  if (roots === undefined) return { ok: false, reason: 'no bundle for trust domain', presented }
  const now = policy.now?.() ?? new Date()
  if (!chainsTo(nodeChain, roots, now)) {
    return { ok: false, reason: 'chain not valid for its trust domain bundle', presented }
  }
  if (!policy.allowed.some((m) => matchesSpiffeId(parsed.id, m))) {
    return { ok: false, reason: 'SPIFFE ID not allowed', presented }
  }
  return { ok: true, spiffeId: parsed.id.uri }
}
