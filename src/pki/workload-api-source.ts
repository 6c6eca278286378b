import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { parseSpiffeId } from '../identity/spiffe-id.js'
import { AuthzError } from '../shared/errors.js'
import { shortGrpcDetails } from '../shared/grpc-details.js'
import type { Logger } from '../shared/logger.js'
import { derChainToPem } from './der.js'
import { type ServingTls, servingTlsFromPem } from './serving-tls.js'
import type { TlsWatcher } from './watch-serving-tls.js'

const DESCRIPTOR = new URL('../../proto/extproc-authz.binpb', import.meta.url)
/** go-spiffe reconnects with a linear backoff from 1 s up to 30 s. */
const BACKOFF_STEP_MS = 1000
const BACKOFF_MAX_MS = 30_000
/** How long start waits for a first usable SVID by default (tls.workload_api.start_timeout_seconds). */
const FIRST_UPDATE_TIMEOUT_MS = 30_000

interface X509Svid {
  spiffe_id: string
  x509_svid: Buffer
  x509_svid_key: Buffer
  bundle: Buffer
}
interface X509SvidResponse {
  svids: X509Svid[]
  // From a descriptor set, proto-loader gives map fields as lists of entries.
  federated_bundles: Array<{ key: string; value: Buffer }> | Record<string, Buffer>
}

/** The SPIFFE endpoint socket as a grpc-js target: unix:///abs/path or tcp://ip:port. */
function workloadApiTarget(socket: string): string {
  if (socket.startsWith('unix://')) return `unix:${socket.slice('unix://'.length)}`
  if (socket.startsWith('tcp://')) return socket.slice('tcp://'.length)
  throw new AuthzError(
    'ERR_WORKLOAD_API_SOCKET',
    `SPIFFE_ENDPOINT_SOCKET ${JSON.stringify(socket)}: expected unix:///path or tcp://ip:port`,
    { keyPath: 'tls.workload_api.socket' },
  )
}

/** Turns one X509SVIDResponse (the full state) into serving TLS. Throws if unusable. */
function servingTlsFromWorkloadApi(
  res: X509SvidResponse,
  allowedPeers: readonly string[],
): ServingTls {
  const svid = res.svids[0]
  if (svid === undefined)
    throw new AuthzError('ERR_TLS_INVALID', 'Workload API update without an SVID')
  const id = parseSpiffeId(svid.spiffe_id)
  if (!id.ok) {
    throw new AuthzError(
      'ERR_TLS_INVALID',
      `Workload API SVID has an invalid SPIFFE ID: ${id.error}`,
    )
  }
  const bundles = new Map<string, string>([[id.id.trustDomain, derChainToPem(svid.bundle)]])
  const federated = Array.isArray(res.federated_bundles)
    ? res.federated_bundles.map((e) => [e.key, e.value] as const)
    : Object.entries(res.federated_bundles ?? {})
  for (const [td, der] of federated) if (!bundles.has(td)) bundles.set(td, derChainToPem(der))
  const key = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' })
  return servingTlsFromPem(
    Buffer.from(derChainToPem(svid.x509_svid)),
    Buffer.from(key.export({ type: 'pkcs8', format: 'pem' }) as string),
    bundles,
    allowedPeers,
    `Workload API SVID ${svid.spiffe_id}`,
  )
}

/**
 * Streams FetchX509SVID from the SPIFFE agent and rotates on every update (SVID and bundles).
 * Resolves after the first usable update; reconnects with linear backoff; a bad update never
 * replaces the working state. Rejects when no usable update arrived within
 * `firstUpdateTimeoutMs`: until then the wait keeps the process alive (an unreachable agent
 * must fail the start, never leave a process with nothing to do that exits 0).
 */
export async function startWorkloadApiTls(
  socket: string,
  allowedPeers: readonly string[],
  onRotate: (next: ServingTls) => void,
  logger: Logger,
  firstUpdateTimeoutMs = FIRST_UPDATE_TIMEOUT_MS,
): Promise<TlsWatcher> {
  const def = protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(DESCRIPTOR), {
    keepCase: true,
    defaults: true,
  })
  const Ctor = (
    grpc.loadPackageDefinition(def) as unknown as {
      SpiffeWorkloadAPI: grpc.ServiceClientConstructor
    }
  ).SpiffeWorkloadAPI
  const client = new Ctor(workloadApiTarget(socket), grpc.credentials.createInsecure())
  let current: ServingTls | undefined
  let closed = false
  const counts = { ok: 0, failed: 0 }
  let attempt = 0
  let call: grpc.ClientReadableStream<X509SvidResponse> | undefined
  let retry: NodeJS.Timeout | undefined
  let firstResolve: ((t: ServingTls) => void) | undefined
  /** Why the last attempt failed, for the start error. */
  let lastProblem = 'no answer'
  const first = new Promise<ServingTls>((resolve) => {
    firstResolve = resolve
  })

  const connect = () => {
    const md = new grpc.Metadata()
    md.set('workload.spiffe.io', 'true')
    call = (
      client as unknown as {
        FetchX509SVID(req: object, md: grpc.Metadata): grpc.ClientReadableStream<X509SvidResponse>
      }
    ).FetchX509SVID({}, md)
    call.on('data', (res: X509SvidResponse) => {
      attempt = 0
      let next: ServingTls
      try {
        next = servingTlsFromWorkloadApi(res, allowedPeers)
      } catch (err) {
        lastProblem = `unusable update: ${(err as Error).message}`
        if (current !== undefined) counts.failed++ // a refused rotation (start errors are fatal)
        logger.warn(
          { err: (err as Error).message },
          'Workload API update not usable; keeping the working SVID',
        )
        return
      }
      const wasFirst = current === undefined
      current = next
      if (wasFirst) firstResolve?.(next)
      else {
        counts.ok++
        onRotate(next)
      }
    })
    call.on('error', (err: grpc.ServiceError) => {
      if (closed || err.code === grpc.status.CANCELLED) return
      attempt++
      lastProblem = `${grpc.status[err.code] ?? err.code}: ${shortGrpcDetails(err.details)}`
      const delay = Math.min(attempt * BACKOFF_STEP_MS, BACKOFF_MAX_MS)
      logger.warn({ code: err.code, retry_ms: delay }, 'Workload API stream failed; reconnecting')
      retry = setTimeout(connect, delay)
      retry.unref()
    })
  }
  connect()
  const timeout = new Promise<never>((_, reject) => {
    // Not unref'd: while start waits for its SVID, this timer is what keeps the process alive.
    const t = setTimeout(
      () =>
        reject(
          new AuthzError(
            'ERR_WORKLOAD_API_UNAVAILABLE',
            `no usable X.509-SVID from the Workload API at ${socket} within ` +
              `${firstUpdateTimeoutMs / 1000} s (last: ${lastProblem})`,
            {
              keyPath: 'tls.workload_api',
              hint: 'is the SPIFFE agent running, and the socket right?',
            },
          ),
        ),
      firstUpdateTimeoutMs,
    )
    first.then(() => clearTimeout(t))
  })
  const close = () => {
    closed = true
    if (retry) clearTimeout(retry)
    call?.cancel()
    client.close()
  }
  try {
    await Promise.race([first, timeout])
  } catch (err) {
    close()
    throw err
  }
  return { current: () => current as ServingTls, reloads: () => ({ ...counts }), close }
}
