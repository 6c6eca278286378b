// The requests the lab proves, with what each must get. Shared by the docker-compose lab test
// (through real Envoy) and the local integration test (lab/config.yaml under the real server,
// Envoy replaced by the test client), so both check the same outcomes.

/** Identities of the lab PKI (`extproc-authz certs generate`, trust domain example.org). */
export const LAB_IDS = {
  /** client.pem: the runner the policy allows. */
  runner: 'spiffe://example.org/ns/ci/sa/runner',
  /** processor.pem: a valid SVID of the trust domain that no rule allows as a caller. */
  other: 'spiffe://example.org/extproc-authz',
  /** envoy.pem: the only peer the processor's channel admits. */
  envoy: 'spiffe://example.org/envoy',
} as const

/** The session the lab's runner token is made for. */
export const LAB_SESSION = 'sess-42'

/**
 * A bearer value that is valid base64 of the right length for RSA-4096 but decrypts under no
 * key: the processor must answer token_invalid, like every other decryption failure.
 */
export const GARBAGE_TOKEN = Buffer.alloc(512, 0x5a).toString('base64')

/** Another session than LAB_SESSION: the valid token names LAB_SESSION, not this one. */
export const OTHER_SESSION = 'sess-43'

export interface LabCase {
  readonly name: string
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** Which client SVID the caller presents (the peer identity Envoy reports). */
  readonly caller: 'runner' | 'other'
  readonly token: 'none' | 'valid' | 'garbage'
  readonly status: number
  /** The deny reason in the JSON body; undefined for an allow. */
  readonly reason?: string
  /** For an allow: the session id the processor must set upstream. */
  readonly session?: string
  /** The rule that decided (Envoy's access log, authz_rule); undefined when none matched. */
  readonly rule?: string
  /** The WWW-Authenticate challenge the answer carries (RFC 6750), if any. */
  readonly challenge?: string
}

/** The lab config names no realm: the default, the service's name. */
export const LAB_CHALLENGE = 'Bearer realm="extproc-authz"'

export const LAB_CASES: readonly LabCase[] = [
  {
    name: 'runner SVID on /api is allowed',
    method: 'GET',
    path: '/api/hello',
    caller: 'runner',
    token: 'none',
    status: 200,
    rule: 'api',
  },
  {
    name: 'runner SVID with a token for the path session is allowed',
    method: 'GET',
    path: `/api/sessions/${LAB_SESSION}/logs`,
    caller: 'runner',
    token: 'valid',
    status: 200,
    session: LAB_SESSION,
    rule: 'runner-session',
  },
  {
    name: 'a SPIFFE ID no rule allows is 403',
    method: 'GET',
    path: '/api/hello',
    caller: 'other',
    token: 'none',
    status: 403,
    reason: 'identity_not_allowed',
    rule: 'api',
  },
  {
    name: 'a session path without a token is 401',
    method: 'GET',
    path: `/api/sessions/${LAB_SESSION}/logs`,
    caller: 'runner',
    token: 'none',
    status: 401,
    reason: 'token_missing',
    rule: 'runner-session',
    challenge: LAB_CHALLENGE,
  },
  {
    name: 'a token that decrypts under no key is 401',
    method: 'GET',
    path: `/api/sessions/${LAB_SESSION}/logs`,
    caller: 'runner',
    token: 'garbage',
    status: 401,
    reason: 'token_invalid',
    rule: 'runner-session',
    challenge: `${LAB_CHALLENGE}, error="invalid_token"`,
  },
  {
    name: "a token for another session than the path's is 403",
    method: 'GET',
    path: `/api/sessions/${OTHER_SESSION}/logs`,
    caller: 'runner',
    token: 'valid',
    status: 403,
    reason: 'session_mismatch',
    rule: 'runner-session',
  },
  {
    name: 'a path with a ;parameter is refused 400 (upstreams may strip it)',
    method: 'GET',
    path: '/api/hello;jsessionid=1',
    caller: 'runner',
    token: 'none',
    status: 400,
    reason: 'path_invalid',
  },
  {
    name: 'a path no rule matches is 403',
    method: 'GET',
    path: '/internal/metrics',
    caller: 'runner',
    token: 'none',
    status: 403,
    reason: 'no_matching_rule',
  },
]
