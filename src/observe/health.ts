import { GRPC_STATUS } from '../shared/grpc-status.js'
import { utf8String, WIRE_LEN, WireReader, WireWriter } from '../shared/protobuf-wire.js'

// grpc.health.v1 (grpc/grpc doc/health-checking.md): Envoy's gRPC health checker calls Check
// with the configured service name. Messages are tiny; our wire codec reads them directly.
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check'
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch'
/** A HealthCheckRequest is a service name: a larger one is refused, the same on both transports. */
export const MAX_HEALTH_REQUEST_BYTES = 1024
/** What an unreadable, oversized or missing HealthCheckRequest is answered (both transports). */
export const BAD_HEALTH_REQUEST = {
  ok: false,
  grpcStatus: GRPC_STATUS.INVALID_ARGUMENT,
  message: 'bad request',
} as const
const SERVICES = new Set(['', 'envoy.service.ext_proc.v3.ExternalProcessor'])
const SERVING = 1
const NOT_SERVING = 2
const SERVICE_UNKNOWN = 3 // Watch only: Check answers NOT_FOUND instead

/** What a Watch stream is told: a new status, or that the server is closing. */
interface HealthWatcher {
  onChange(serving: boolean): void
  onClose(): void
}

/** SERVING once the config, policy and keys are loaded; NOT_SERVING from the start of a drain. */
export class HealthState {
  private serving = false
  private readonly watchers = new Set<HealthWatcher>()

  get isServing(): boolean {
    return this.serving
  }

  setServing(serving: boolean): void {
    if (serving === this.serving) return // Watch sends changes only
    this.serving = serving
    for (const w of [...this.watchers]) w.onChange(serving)
  }

  /** Registers a Watch stream; returns its unsubscribe. */
  watch(watcher: HealthWatcher): () => void {
    this.watchers.add(watcher)
    return () => this.watchers.delete(watcher)
  }

  /** Watch streams open now (for tests and shutdown). */
  get watchCount(): number {
    return this.watchers.size
  }

  /** Ends every Watch stream: they never end on their own and would hold a graceful close. */
  closeWatches(): void {
    const all = [...this.watchers]
    this.watchers.clear()
    for (const w of all) w.onClose()
  }
}

type HealthAnswer =
  | { readonly ok: true; readonly response: Buffer }
  | { readonly ok: false; readonly grpcStatus: number; readonly message: string }

type HealthRequest =
  | { readonly ok: true; readonly service: string; readonly known: boolean }
  | { readonly ok: false; readonly grpcStatus: number; readonly message: string }

/** Reads HealthCheckRequest { string service = 1; }. */
export function parseHealthRequest(request: Uint8Array): HealthRequest {
  if (request.length > MAX_HEALTH_REQUEST_BYTES) return BAD_HEALTH_REQUEST
  let service = ''
  try {
    const r = new WireReader(request)
    while (!r.done()) {
      const tag = r.uint32()
      if (tag === ((1 << 3) | WIRE_LEN)) {
        const s = r.lenDelimited()
        service = utf8String(request, s, r.fieldEnd)
      } else r.skip(tag & 7)
    }
  } catch {
    return {
      ok: false,
      grpcStatus: GRPC_STATUS.INVALID_ARGUMENT,
      message: 'undecodable HealthCheckRequest',
    }
  }
  return { ok: true, service, known: SERVICES.has(service) }
}

/** HealthCheckResponse { ServingStatus status = 1; } for a known or unknown service. */
export function healthResponse(known: boolean, serving: boolean): Buffer {
  const status = !known ? SERVICE_UNKNOWN : serving ? SERVING : NOT_SERVING
  return new WireWriter().uint32(1, status).finish()
}

/** Answers one Check: the status, or NOT_FOUND for a service this server does not serve. */
export function answerHealthCheck(request: Uint8Array, state: HealthState): HealthAnswer {
  const parsed = parseHealthRequest(request)
  if (!parsed.ok) return parsed
  if (!parsed.known)
    return { ok: false, grpcStatus: GRPC_STATUS.NOT_FOUND, message: 'unknown service' }
  return { ok: true, response: healthResponse(true, state.isServing) }
}
