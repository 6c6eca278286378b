// The lab/dev PKI directory `certs generate` writes: one CA (bundle.pem, its key kept apart with
// mode 0600) and three X.509-SVIDs. Leaves can be re-issued from the kept CA, so the trust bundle
// does not change when they rotate, and a directory that is still fresh is left alone.
import { X509Certificate } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { AuthzError, type AuthzErrorOptions } from '../shared/errors.js'
import { generateCa, type Issued, issueLeaf, loadCa } from './generate.js'
import { CA_DAYS } from './lab-pki-days.js'

const DAY_MS = 86_400_000

// Kept apart so `certs --help` states them without loading the PKI code.
export { CA_DAYS, DEFAULT_LEAF_DAYS, MAX_LEAF_DAYS } from './lab-pki-days.js'

/** The bundle file, the CA key's default name, and the SVIDs (names the Envoy configs rely on). */
const BUNDLE_FILE = 'bundle.pem'
const CA_KEY_FILE = 'ca-key.pem'

interface LeafSpec {
  readonly name: string
  readonly path: string
  readonly dns: readonly string[]
}

// DNS names too: clients such as curl check the host name of Envoy's listener certificate.
const LEAVES: readonly LeafSpec[] = [
  { name: 'envoy', path: '/envoy', dns: ['envoy', 'localhost'] },
  { name: 'processor', path: '/extproc-authz', dns: ['extproc-authz', 'localhost'] },
  { name: 'client', path: '/ns/ci/sa/runner', dns: [] },
]

interface LabPkiOptions {
  readonly dir: string
  readonly trustDomain: string
  /** Leaf lifetime in days. */
  readonly leafDays: number
  /** Where the CA's private key is kept (default DIR/ca-key.pem). */
  readonly caKeyFile?: string
  /** Issue from the CA already in DIR; fail if it is missing or cannot outlive the leaves. */
  readonly keepCa?: boolean
  /**
   * Act only when a file is missing or unusable, or a certificate expires within this many days;
   * then keep the CA when it is usable and outlives the new leaves, else make a new one.
   */
  readonly renewWithinDays?: number
  readonly now?: () => number
}

interface LabPkiResult {
  readonly action: 'kept' | 'reissued' | 'created'
  /** Why a kept-if-fresh run acted (absent when it kept, or when not asked to check). */
  readonly reason?: string
}

/** A lab PKI directory that cannot be used as asked (e.g. --keep-ca without a usable CA). */
export class LabPkiError extends AuthzError {
  static readonly code = 'ERR_LAB_PKI'
  override readonly name = 'LabPkiError'
  constructor(problem: string, options: AuthzErrorOptions = {}) {
    super(LabPkiError.code, problem, options)
  }
}

/** Writes a file by rename, so watchers (Envoy's SDS reacts to renames only) see it whole. */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(tmp, text, { mode })
    await rename(tmp, file)
  } finally {
    await rm(tmp, { force: true })
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** The CA in DIR, or why it cannot be used. */
async function existingCa(bundleFile: string, caKeyFile: string): Promise<Issued | string> {
  const [certPem, keyPem] = await Promise.all([readText(bundleFile), readText(caKeyFile)])
  if (certPem === undefined) return `${bundleFile} is missing`
  if (keyPem === undefined) return `${caKeyFile} is missing`
  try {
    return await loadCa(certPem, keyPem)
  } catch (err) {
    return `the CA in ${bundleFile} and ${caKeyFile} is unusable: ${(err as Error).message}`
  }
}

/** Why the PKI in DIR needs renewing before `deadline` (ms), or undefined when it is fresh. */
async function staleLeaf(
  o: LabPkiOptions,
  ca: Issued,
  deadline: number,
): Promise<string | undefined> {
  const caCert = new X509Certificate(ca.certPem)
  if (Date.parse(caCert.validTo) <= deadline) return `the CA expires ${caCert.validTo}`
  for (const leaf of LEAVES) {
    const certPem = await readText(join(o.dir, `${leaf.name}.pem`))
    const keyPem = await readText(join(o.dir, `${leaf.name}-key.pem`))
    if (certPem === undefined || keyPem === undefined) return `${leaf.name} is missing`
    let cert: X509Certificate
    try {
      cert = new X509Certificate(certPem)
    } catch {
      return `${leaf.name}.pem does not parse`
    }
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) {
      return `${leaf.name}.pem is not issued by the CA in ${BUNDLE_FILE}`
    }
    if (cert.subjectAltName?.includes(`URI:spiffe://${o.trustDomain}${leaf.path}`) !== true) {
      return `${leaf.name}.pem is not spiffe://${o.trustDomain}${leaf.path}`
    }
    if (Date.parse(cert.validTo) <= deadline) return `${leaf.name}.pem expires ${cert.validTo}`
  }
  return undefined
}

export async function writeLabPki(o: LabPkiOptions): Promise<LabPkiResult> {
  const now = o.now ?? Date.now
  const bundleFile = join(o.dir, BUNDLE_FILE)
  const caKeyFile = o.caKeyFile ?? join(o.dir, CA_KEY_FILE)
  const leafEnd = now() + o.leafDays * DAY_MS
  let reason: string | undefined
  let ca: Issued | undefined
  if (o.keepCa === true || o.renewWithinDays !== undefined) {
    const found = await existingCa(bundleFile, caKeyFile)
    if (typeof found === 'string') {
      if (o.keepCa === true) throw new LabPkiError(found, { flag: '--keep-ca' })
      reason = found
    } else if (Date.parse(new X509Certificate(found.certPem).validTo) <= leafEnd) {
      const msg = `the CA expires ${found.cert.notAfter.toISOString()}, before leaves of ${o.leafDays} days`
      if (o.keepCa === true) throw new LabPkiError(msg, { flag: '--keep-ca' })
      reason = msg
    } else {
      ca = found
    }
  }
  if (ca !== undefined && o.renewWithinDays !== undefined) {
    reason = await staleLeaf(o, ca, now() + o.renewWithinDays * DAY_MS)
    if (reason === undefined) return { action: 'kept' }
  }
  const created = ca === undefined
  if (ca === undefined) {
    ca = await generateCa(`${o.trustDomain} lab CA`, CA_DAYS)
    // The key first: a CA in the bundle whose key is lost could never issue a renewal.
    await writeAtomic(caKeyFile, ca.keyPem, 0o600)
    await writeAtomic(bundleFile, ca.certPem, 0o644)
  }
  for (const leaf of LEAVES) {
    const issued = await issueLeaf(ca, {
      uris: [`spiffe://${o.trustDomain}${leaf.path}`],
      dns: leaf.dns,
      notAfter: new Date(leafEnd),
    })
    // Two renames: in between, the pair does not match. Envoy (SDS) and the processor refuse a
    // mismatched pair and keep the old one until the second rename completes it.
    await writeAtomic(join(o.dir, `${leaf.name}-key.pem`), issued.keyPem, 0o600)
    await writeAtomic(join(o.dir, `${leaf.name}.pem`), issued.certPem, 0o644)
  }
  const action = created ? 'created' : 'reissued'
  return reason === undefined ? { action } : { action, reason }
}
