// Every stable error code the project throws, in one list: AuthzError takes only these, and
// docs/errors.md is generated from the same list (src/docs/error-codes.ts), so a code cannot be
// thrown without its documented meaning. A published code is never renamed.
export const ERROR_CODES = [
  // Command line
  'ERR_USAGE',
  'ERR_FILE_UNREADABLE',
  'ERR_FILE_TOO_LARGE',
  'ERR_FILE_UNWRITABLE',
  'ERR_INPUT_INVALID',
  'ERR_INTERNAL',
  // Configuration and the files it names
  'ERR_CONFIG_INVALID',
  'ERR_PATH_TEMPLATE_INVALID',
  'ERR_POLICY_UNCOMPILABLE',
  'ERR_RESTART_REQUIRED',
  'ERR_LISTEN_INVALID',
  'ERR_LISTEN_FAILED',
  'ERR_KEY_INVALID',
  'ERR_KEY_EXISTS',
  'ERR_HASH_KEY',
  'ERR_HASH_KEY_UNSHARED',
  'ERR_REGISTRY_UNREADABLE',
  'ERR_REGISTRY_INVALID',
  // Serving TLS
  'ERR_TLS_FILE_INVALID',
  'ERR_TLS_INVALID',
  'ERR_WORKLOAD_API_SOCKET',
  'ERR_WORKLOAD_API_UNAVAILABLE',
  'ERR_LAB_PKI',
  'ERR_CA_KEY_MISMATCH',
  // Requests (answered with a deny reason, never shown to an operator as an error)
  'ERR_WIRE_MALFORMED',
  'ERR_GRPC_FRAMING',
  'ERR_LIMIT_EXCEEDED',
  'ERR_TOKEN_KID_UNKNOWN',
  // probe
  'ERR_PROBE_UNREACHABLE',
  'ERR_PROBE_TIMEOUT',
  'ERR_PROBE_FAILED',
  'ERR_PROBE_UNEXPECTED',
  'ERR_PROBE_SERVER_ID_MISMATCH',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]
