import { AuthzError } from '../../shared/errors.js'
import { WireWriter } from '../../shared/protobuf-wire.js'
import type { Phase } from './processing-request.js'

// ProcessingResponse oneof field numbers (external_processor.proto).
const RESPONSE_FIELD: Record<Phase, number> = {
  request_headers: 1,
  response_headers: 2,
  request_body: 3,
  response_body: 4,
  request_trailers: 5,
  response_trailers: 6,
}
const FIELD_IMMEDIATE_RESPONSE = 7

// envoy.config.core.v3.HeaderValueOption.HeaderAppendAction
const OVERWRITE_IF_EXISTS_OR_ADD = 2

export interface HeaderToSet {
  readonly name: string
  /** Written to `raw_value`: current Envoy sends a mutation carrying only `value` as empty. */
  readonly value: string
}

export interface HeaderMutationSpec {
  /** Set with OVERWRITE_IF_EXISTS_OR_ADD: every client-sent copy is replaced. */
  readonly set: readonly HeaderToSet[]
  readonly remove: readonly string[]
}

interface ImmediateResponseSpec {
  /** HTTP status; always set: Envoy sends an ImmediateResponse without one as 200. */
  readonly status: number
  readonly headers: readonly HeaderToSet[]
  readonly body: Uint8Array
  /** Shows up in Envoy's %RESPONSE_CODE_DETAILS%. */
  readonly details: string
  /** For gRPC callers: Envoy then answers with this grpc-status in a trailers-only response. */
  readonly grpcStatus?: number | undefined
}

// HeaderMutation { repeated HeaderValueOption set_headers = 1; repeated string remove_headers = 2; }
function headerMutation(spec: HeaderMutationSpec): WireWriter {
  const m = new WireWriter()
  for (const h of spec.set) {
    // HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
    const hv = new WireWriter().latin1(1, h.name).latin1(3, h.value)
    // HeaderValueOption { HeaderValue header = 1; HeaderAppendAction append_action = 3; }
    m.message(1, new WireWriter().message(1, hv).uint32(3, OVERWRITE_IF_EXISTS_OR_ADD))
  }
  for (const name of spec.remove) m.latin1(2, name)
  return m
}

/**
 * CONTINUE for `phase`, optionally with a header mutation (headers phases only). An empty
 * HeadersResponse/BodyResponse/TrailersResponse means "continue unchanged".
 */
export function encodeContinue(phase: Phase, mutation?: HeaderMutationSpec): Buffer {
  const inner = new WireWriter()
  if (mutation && (mutation.set.length > 0 || mutation.remove.length > 0)) {
    if (phase === 'request_headers' || phase === 'response_headers') {
      // HeadersResponse { CommonResponse response = 1; } CommonResponse { status = 1 (CONTINUE
      // is 0, not written); HeaderMutation header_mutation = 2; }
      inner.message(1, new WireWriter().message(2, headerMutation(mutation)))
    } else if (phase === 'request_trailers' || phase === 'response_trailers') {
      inner.message(1, headerMutation(mutation)) // TrailersResponse { header_mutation = 1 }
    }
  }
  return new WireWriter().message(RESPONSE_FIELD[phase], inner).finish()
}

export function encodeImmediateResponse(spec: ImmediateResponseSpec): Buffer {
  if (!Number.isInteger(spec.status) || spec.status < 200 || spec.status > 599) {
    // Envoy turns a missing or invalid status into 200: refuse to encode one.
    throw new AuthzError(
      'ERR_INTERNAL',
      `immediate response status ${spec.status} is not a valid HTTP status`,
    )
  }
  const ir = new WireWriter()
    .message(1, new WireWriter().uint32(1, spec.status)) // HttpStatus { StatusCode code = 1; }
    .message(2, headerMutation({ set: spec.headers, remove: [] }))
    .bytes(3, spec.body)
  if (spec.grpcStatus !== undefined) {
    // GrpcStatus { uint32 status = 1; } — written even for 0 so the message is present.
    const gs = new WireWriter()
    if (spec.grpcStatus !== 0) gs.uint32(1, spec.grpcStatus)
    ir.message(4, gs)
  }
  ir.string(5, spec.details)
  return new WireWriter().message(FIELD_IMMEDIATE_RESPONSE, ir).finish()
}
