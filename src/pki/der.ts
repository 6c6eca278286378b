import { X509Certificate } from 'node:crypto'
import { AuthzError } from '../shared/errors.js'

/** Splits DER-concatenated certificates (Workload API `x509_svid`, `bundle`) one SEQUENCE each. */
function splitDerCertificates(der: Uint8Array): Buffer[] {
  const out: Buffer[] = []
  const buf = Buffer.from(der.buffer, der.byteOffset, der.length)
  let at = 0
  while (at < buf.length) {
    if (buf[at] !== 0x30 || at + 2 > buf.length)
      throw new AuthzError('ERR_TLS_INVALID', 'not a DER SEQUENCE')
    const first = buf[at + 1] as number
    let len: number
    let header: number
    if (first < 0x80) {
      len = first
      header = 2
    } else {
      const n = first & 0x7f
      if (n === 0 || n > 4 || at + 2 + n > buf.length)
        throw new AuthzError('ERR_TLS_INVALID', 'bad DER length')
      len = buf.readUIntBE(at + 2, n)
      header = 2 + n
    }
    const end = at + header + len
    if (end > buf.length) throw new AuthzError('ERR_TLS_INVALID', 'truncated DER certificate')
    out.push(buf.subarray(at, end))
    at = end
  }
  return out
}

export function derChainToPem(der: Uint8Array): string {
  return splitDerCertificates(der)
    .map((c) => new X509Certificate(c).toString())
    .join('')
}
