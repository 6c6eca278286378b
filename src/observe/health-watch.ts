import { type HealthState, healthResponse, parseHealthRequest } from './health.js'

/** Where a Watch stream's messages go; each transport frames them its own way. */
interface HealthWatchSink {
  send(response: Buffer): void
  /** Ends the stream with status OK (the server is closing). */
  end(): void
}

type HealthWatchStart =
  | { readonly ok: true; readonly cancel: () => void }
  | { readonly ok: false; readonly grpcStatus: number; readonly message: string }

/**
 * grpc.health.v1.Health/Watch (grpc/grpc doc/health-checking.md): the current status at once,
 * then one message per change. An unknown service is answered SERVICE_UNKNOWN and the stream
 * stays open (the service could be added later; Check answers NOT_FOUND instead). The stream
 * ends when the client cancels (`cancel`) or the server closes (`sink.end`).
 */
export function startHealthWatch(
  request: Uint8Array,
  state: HealthState,
  sink: HealthWatchSink,
): HealthWatchStart {
  const parsed = parseHealthRequest(request)
  if (!parsed.ok) return parsed
  const { known } = parsed
  sink.send(healthResponse(known, state.isServing))
  const cancel = state.watch({
    // An unknown service stays SERVICE_UNKNOWN whatever the server's status: nothing to send.
    onChange: (serving) => {
      if (known) sink.send(healthResponse(true, serving))
    },
    onClose: () => sink.end(),
  })
  return { ok: true, cancel }
}
