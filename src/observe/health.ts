import { utf8String, WIRE_LEN, WireReader, WireWriter } from '../extproc/codec/wire.js'

// grpc.health.v1 (grpc/grpc doc/health-checking.md): Envoy's gRPC health checker calls Check
// with the configured service name. Messages are tiny; our wire codec reads them directly.
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check'
const SERVICES = new Set(['', 'envoy.service.ext_proc.v3.ExternalProcessor'])
const SERVING = 1
const NOT_SERVING = 2
const GRPC_NOT_FOUND = 5
const GRPC_INVALID_ARGUMENT = 3

/** SERVING once the config, policy and keys are loaded; NOT_SERVING from the start of a drain. */
export class HealthState {
  private serving = false

  get isServing(): boolean {
    return this.serving
  }

  setServing(serving: boolean): void {
    this.serving = serving
  }
}

export type HealthAnswer =
  | { readonly ok: true; readonly response: Buffer }
  | { readonly ok: false; readonly grpcStatus: number; readonly message: string }

/** Answers one HealthCheckRequest { string service = 1; } with HealthCheckResponse { status = 1 }. */
export function answerHealthCheck(request: Uint8Array, state: HealthState): HealthAnswer {
  let service = ''
  try {
    const r = new WireReader(request)
    while (!r.done()) {
      const tag = r.uint32()
      if (tag === ((1 << 3) | WIRE_LEN)) {
        const [s, e] = r.lenDelimited()
        service = utf8String(request, s, e)
      } else r.skip(tag & 7)
    }
  } catch {
    return {
      ok: false,
      grpcStatus: GRPC_INVALID_ARGUMENT,
      message: 'undecodable HealthCheckRequest',
    }
  }
  if (!SERVICES.has(service))
    return { ok: false, grpcStatus: GRPC_NOT_FOUND, message: 'unknown service' }
  return {
    ok: true,
    response: new WireWriter().uint32(1, state.isServing ? SERVING : NOT_SERVING).finish(),
  }
}
