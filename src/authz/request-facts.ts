import type { SpiffeId } from '../identity/spiffe-id.js'

/** A header the request carried more than once where one value was expected. */
export const AMBIGUOUS = Symbol('ambiguous')

/**
 * What authorization may look at, extracted once from Envoy's request_headers message (or built
 * by `policy test` from a request description). Everything here is already bounded.
 */
export interface RequestFacts {
  /**
   * `:method`, or '' when it is not an upper-case RFC 9110 token (isRequestMethod): authorize
   * refuses it, and a client's arbitrary bytes are never carried on to the logs.
   */
  readonly method: string
  /** `:path` as Envoy sent it, query included. */
  readonly path: string
  /** Path segments, or undefined when the path is unsafe to match (see splitRequestPath). */
  readonly segments: readonly string[] | undefined
  /**
   * The host of `:authority` normalised by hostOfAuthority (lower case, port and one trailing dot
   * removed), or undefined when the authority is missing or invalid: the request is denied.
   */
  readonly host: string | undefined
  /** The peer's SPIFFE ID: from Envoy's attribute, or XFCC when enabled. Undefined if none/invalid. */
  readonly peer: SpiffeId | undefined
  /** The bearer credential from `authorization`, AMBIGUOUS if several were sent. */
  readonly bearer: string | typeof AMBIGUOUS | undefined
  readonly requestId: string | undefined
  /**
   * The `traceparent` header as sent, unchecked: only a logged decision reads it, through
   * `traceIds()`, so the check is not paid on the requests that are not logged.
   */
  readonly traceparent?: string | undefined
  /** The request is gRPC (content-type application/grpc...): denies carry a grpc-status. */
  readonly grpc: boolean
}

/** W3C Trace Context: version-traceid-parentid-flags, lower-case hex. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

/** The trace and span IDs of a well-formed traceparent; undefined for anything else. */
export function traceIds(
  traceparent: string | undefined,
): { readonly traceId: string; readonly spanId: string } | undefined {
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined
  return { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52) }
}
