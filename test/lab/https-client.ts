import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'

// Requests to the lab's Envoy with Node's own TLS client (no curl needed): the lab CA, an
// optional client SVID, and the host name localhost that Envoy's certificate carries.

export interface Svid {
  readonly cert: string
  readonly key: string
}

export interface LabRequest {
  readonly port: number
  readonly ca: string
  readonly svid?: Svid
  readonly method?: string
  readonly path: string
  readonly bearer?: string
  /** More request headers. */
  readonly headers?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
}

export interface LabResponse {
  readonly status: number
  readonly body: string
  /** Response headers, names lower-case (Node's http). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Milliseconds from sending to the end of the response. */
  readonly ms: number
  json(): Record<string, unknown>
}

/** One request on a fresh connection; rejects on a TLS or socket error (no HTTP answer). */
export function labRequest(r: LabRequest): Promise<LabResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: r.port,
        method: r.method ?? 'GET',
        path: r.path,
        ca: r.ca,
        ...(r.svid === undefined ? {} : { cert: r.svid.cert, key: r.svid.key }),
        agent: false,
        headers: {
          ...r.headers,
          ...(r.bearer === undefined ? {} : { authorization: `Bearer ${r.bearer}` }),
        },
        timeout: r.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            ms: performance.now() - started,
            json: () => JSON.parse(body) as Record<string, unknown>,
          })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('lab request timed out')))
    req.on('error', reject)
    req.end()
  })
}

/** What reached the upstream so far (its control port, not routed through Envoy). */
export async function upstreamCount(countPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${countPort}/count`)
  if (!res.ok) throw new Error(`GET /count: ${res.status}`)
  return ((await res.json()) as { count: number }).count
}

export async function resetCount(countPort: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${countPort}/reset`, { method: 'POST' })
  if (!res.ok) throw new Error(`POST /reset: ${res.status}`)
}

/**
 * Sends `make()` until it answers 200 or `boundMs` passes; returns the milliseconds it took.
 * Errors and non-200 answers before that count as not yet recovered.
 */
export async function msUntil200(make: () => Promise<LabResponse>, boundMs: number) {
  const started = performance.now()
  let last = 'no answer yet'
  while (performance.now() - started < boundMs) {
    try {
      const res = await make()
      if (res.status === 200) return performance.now() - started
      last = `${res.status} ${res.body.slice(0, 200)}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(250)
  }
  throw new Error(`no 200 within ${boundMs} ms; last: ${last}`)
}
