// One table: reason code -> HTTP status -> the message a client sees. Clients get a generic
// message; the detail (which rule, which identity, why) goes only to the server log. Codes are
// stable: dashboards, alerts and Envoy's %RESPONSE_CODE_DETAILS% (`extproc_authz_<code>`) use them.

import { GRPC_STATUS } from '../shared/grpc-status.js'

interface ReasonSpec {
  readonly status: number
  readonly message: string
  /** grpc-status for gRPC callers (Envoy answers them trailers-only). */
  readonly grpcStatus: number
}

const {
  UNAUTHENTICATED,
  PERMISSION_DENIED,
  UNAVAILABLE,
  INVALID_ARGUMENT,
  INTERNAL,
  RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED,
} = GRPC_STATUS

const unauthenticated = {
  status: 401,
  message: 'authentication required',
  grpcStatus: UNAUTHENTICATED,
} as const
const invalidCredentials = {
  status: 401,
  message: 'invalid credentials',
  grpcStatus: UNAUTHENTICATED,
} as const
const forbidden = { status: 403, message: 'forbidden', grpcStatus: PERMISSION_DENIED } as const
const unavailable = {
  status: 503,
  message: 'service unavailable',
  grpcStatus: UNAVAILABLE,
} as const

export const REASONS = {
  // Policy
  no_matching_rule: forbidden,
  rule_denies: forbidden,
  // SPIFFE identity
  identity_missing: unauthenticated,
  identity_not_allowed: forbidden,
  // Runner tokens
  token_missing: unauthenticated,
  token_invalid: invalidCredentials,
  token_expired: invalidCredentials,
  session_id_invalid: forbidden,
  session_mismatch: forbidden,
  session_not_live: forbidden,
  session_registry_unavailable: unavailable,
  // The request itself
  path_invalid: { status: 400, message: 'bad request', grpcStatus: INVALID_ARGUMENT },
  method_invalid: { status: 400, message: 'bad request', grpcStatus: INVALID_ARGUMENT },
  authority_invalid: { status: 400, message: 'bad request', grpcStatus: INVALID_ARGUMENT },
  request_malformed: { status: 400, message: 'bad request', grpcStatus: INVALID_ARGUMENT },
  headers_too_large: {
    status: 431,
    message: 'request headers too large',
    grpcStatus: RESOURCE_EXHAUSTED,
  },
  stream_idle_timeout: { status: 408, message: 'request timeout', grpcStatus: DEADLINE_EXCEEDED },
  // The processor
  overloaded: unavailable,
  not_ready: unavailable,
  protocol_error: { status: 500, message: 'internal error', grpcStatus: INTERNAL },
  internal_error: { status: 500, message: 'internal error', grpcStatus: INTERNAL },
} as const satisfies Record<string, ReasonSpec>

export type DenyReason = keyof typeof REASONS
