import http from 'node:http'
import type { Registry } from 'prom-client'
import { AuthzError } from '../shared/errors.js'
import { parseListenAddress } from '../shared/listen-address.js'
import type { HealthState } from './health.js'

interface AdminServer {
  readonly port: number
  close(): Promise<void>
}

/** /metrics (Prometheus), /healthz (the process is alive), /readyz (loaded and not draining). */
export async function startAdminServer(
  listen: string,
  registry: Registry,
  health: HealthState,
): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET') return void res.writeHead(405).end()
    if (path === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      )
    } else if (path === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    else if (path === '/readyz') {
      const ready = health.isServing
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : 'not ready\n')
    } else res.writeHead(404).end()
  })
  const address = parseListenAddress(listen)
  if (address === undefined) {
    throw new AuthzError('ERR_LISTEN_INVALID', `not a listen address: ${listen}`, {
      keyPath: 'admin.listen',
    })
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, resolve)
  })
  const bound = server.address()
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        // Keep-alive scrapers would hold close() open: the admin endpoint owes them nothing.
        server.closeAllConnections()
      }),
  }
}
