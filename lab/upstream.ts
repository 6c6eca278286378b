import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

// The lab's upstream: it counts every request that reaches it, so a test can prove that a
// denied request reached nothing. The count is read on a separate control port that Envoy
// does not route to (GET /count, POST /reset), so reading it never changes it.

export interface Upstream {
  readonly trafficPort: number
  readonly controlPort: number
  count(): number
  close(): Promise<void>
}

export interface UpstreamOptions {
  readonly host?: string
  readonly trafficPort?: number
  readonly controlPort?: number
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}

function header(req: http.IncomingMessage, name: string): string | null {
  const v = req.headers[name]
  return typeof v === 'string' ? v : null
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port))
  })
}

export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const host = opts.host ?? '127.0.0.1'
  let count = 0
  const traffic = http.createServer((req, res) => {
    count++
    // Echo what the processor set or stripped, so the lab can see the header mutations.
    json(res, 200, {
      upstream: 'reached',
      method: req.method,
      path: req.url,
      spiffe_id: header(req, 'x-spiffe-id'),
      session_id: header(req, 'x-runner-session-id'),
      authorization_present: req.headers.authorization !== undefined,
    })
  })
  const control = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path === '/count' && req.method === 'GET') return json(res, 200, { count })
    if (path === '/reset' && req.method === 'POST') {
      count = 0
      return json(res, 200, { count })
    }
    json(res, 404, { error: 'not found' })
  })
  const trafficPort = await listen(traffic, opts.trafficPort ?? 0, host)
  const controlPort = await listen(control, opts.controlPort ?? 0, host)
  const close = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve())
      s.closeAllConnections()
    })
  return {
    trafficPort,
    controlPort,
    count: () => count,
    close: async () => {
      await Promise.all([close(traffic), close(control)])
    },
  }
}

function portFromEnv(name: string): number {
  const raw = process.env[name]
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}: expected a port number, found ${JSON.stringify(raw)}`)
  }
  return port
}

// Run directly (the compose `upstream` service): ports from UPSTREAM_PORT and CONTROL_PORT.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const up = await startUpstream({
    host: '0.0.0.0',
    trafficPort: portFromEnv('UPSTREAM_PORT'),
    controlPort: portFromEnv('CONTROL_PORT'),
  })
  process.stdout.write(`upstream: traffic :${up.trafficPort}, count :${up.controlPort}\n`)
  const stop = () => void up.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
