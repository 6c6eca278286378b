import * as grpc from '@grpc/grpc-js'
import type { ServingTls } from '../pki/serving-tls.js'

/**
 * grpc-js server credentials for channel mTLS. Always pass the bundle: createSsl(null, …) would
 * verify clients against the public root CAs. createSsl has no minVersion option; grpc-js
 * spreads _getConstructorOptions() into http2.createSecureServer, so TLS 1.3 is pinned there
 * (checked against @grpc/grpc-js 1.14.7 build/src/server.js).
 */
export function grpcJsTlsCredentials(first: ServingTls): grpc.ServerCredentials {
  const credentials = grpc.ServerCredentials.createSsl(
    first.ca,
    [{ cert_chain: first.cert, private_key: first.key }],
    true,
  )
  const creds = credentials as unknown as { _getConstructorOptions(): object | null }
  const base = creds._getConstructorOptions.bind(creds)
  creds._getConstructorOptions = () => ({ ...base(), minVersion: 'TLSv1.3' })
  return credentials
}

/** setSecureContext() resets omitted options: pass minVersion again on every rotation. */
export function rotateGrpcJsCredentials(
  credentials: grpc.ServerCredentials,
  next: ServingTls,
): void {
  const c = credentials as unknown as { updateSecureContextOptions(o: object): void }
  c.updateSecureContextOptions({
    ca: next.ca,
    cert: next.cert,
    key: next.key,
    minVersion: 'TLSv1.3',
  })
}
