import { AuthzError, errnoCode } from '../shared/errors.js'

/** A listen address that cannot be bound, as one line naming the key and what to do. */
export function bindError(err: unknown, keyPath: string, address: string): unknown {
  if (err instanceof AuthzError) return err
  // Both transports and the admin server bind through node:net, which sets `code`.
  const errno = errnoCode(err)
  const why: Record<string, [string, string]> = {
    EADDRINUSE: ['address already in use', 'stop what listens there, or choose another port'],
    EACCES: ['permission denied', 'ports below 1024 need privileges; choose another port'],
    EADDRNOTAVAIL: ['address not available on this host', 'use an address of this host'],
    ENOTFOUND: ['host name not found', 'use an IP address or a resolvable name'],
  }
  const known = errno === undefined ? undefined : why[errno]
  if (known === undefined) return err
  return new AuthzError('ERR_LISTEN_FAILED', `cannot listen on ${address}: ${known[0]}`, {
    keyPath,
    hint: known[1],
    cause: err,
  })
}
