import type { Server } from 'node:net'
import { AuthzError } from '../shared/errors.js'
import {
  LISTEN_EXPECTED,
  type ListenAddress,
  parseListenAddress,
} from '../shared/listen-address.js'

/** `host:port` or `[v6]:port` into what net.Server.listen takes (validated by the config). */
export function splitListen(listen: string): ListenAddress {
  const address = parseListenAddress(listen)
  if (address === undefined) {
    throw new AuthzError('ERR_LISTEN_INVALID', `expected ${LISTEN_EXPECTED}, found "${listen}"`, {
      keyPath: 'listen',
    })
  }
  return address
}

/** Binds a transport's server to `listen` the same way for both transports; the bound port. */
export async function listenOn(server: Server, listen: string): Promise<number> {
  const { host, port } = splitListen(listen)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : port
}
