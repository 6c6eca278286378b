import type { SpiffeId } from '../identity/spiffe-id.js'

/** A header the request carried more than once where one value was expected. */
export const AMBIGUOUS = Symbol('ambiguous')

/**
 * What authorization may look at, extracted once from Envoy's request_headers message (or built
 * by `policy test` from a request description). Everything here is already bounded.
 */
export interface RequestFacts {
  readonly method: string
  /** `:path` as Envoy sent it, query included. */
  readonly path: string
  /** Path segments, or undefined when the path is unsafe to match (see splitRequestPath). */
  readonly segments: readonly string[] | undefined
  /** `:authority`, lower-cased, port removed. */
  readonly host: string
  /** The peer's SPIFFE ID: from Envoy's attribute, or XFCC when enabled. Undefined if none/invalid. */
  readonly peer: SpiffeId | undefined
  /** The bearer credential from `authorization`, AMBIGUOUS if several were sent. */
  readonly bearer: string | typeof AMBIGUOUS | undefined
  readonly requestId: string | undefined
  /** W3C traceparent, when well-formed. */
  readonly traceparent?: string | undefined
  /** The request is gRPC (content-type application/grpc...): denies carry a grpc-status. */
  readonly grpc: boolean
}
