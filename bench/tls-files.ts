import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TlsFiles {
  readonly dir: string
  readonly key: Buffer
  readonly cert: Buffer
}

/** A throwaway self-signed P-256 certificate for localhost (also used as the client's). */
export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'extproc-bench-tls-'))
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,URI:spiffe://example.org/ns/prod/sa/envoy',
    ],
    { stdio: 'ignore' },
  )
  return readTlsFiles(dir)
}

export function readTlsFiles(dir: string): TlsFiles {
  return {
    dir,
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
  }
}
