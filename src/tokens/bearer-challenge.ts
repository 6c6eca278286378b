import type { DenyReason } from '../authz/reasons.js'

// RFC 6750 §3: a 401 for a resource that takes a bearer token carries `WWW-Authenticate: Bearer`
// with the realm, and `error="invalid_token"` when a token was sent but is not acceptable; with
// no error code when the request carried no token (§3.1: "SHOULD NOT include an error code").

/** The realm when the config names none: the service's own name. */
export const DEFAULT_REALM = 'extproc-authz'

/**
 * Characters a realm may hold (config validation): printable ASCII. RFC 7235 quoted-string also
 * allows obs-text, which clients decode inconsistently; '"' and '\' are escaped on output.
 */
export const REALM_PATTERN = /^[\x20-\x7e]{1,128}$/

/** RFC 7230 §3.2.6 quoted-string: '"' and '\' as quoted-pairs. */
export function quotedString(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`
}

export interface BearerChallenges {
  /** For token_missing. */
  readonly missing: string
  /** For every unusable token (token_invalid, token_expired): one value, whatever the failure. */
  readonly invalid: string
}

export function bearerChallenges(realm: string): BearerChallenges {
  if (!REALM_PATTERN.test(realm)) throw new RangeError('realm: expected 1-128 printable ASCII')
  const base = `Bearer realm=${quotedString(realm)}`
  return { missing: base, invalid: `${base}, error="invalid_token"` }
}

/**
 * The challenge a deny carries, or undefined. Only the runner-token reasons get one: they are the
 * 401s of rules that take a bearer token. identity_missing (also 401) gets none: the missing
 * credential is the TLS client certificate, which no HTTP challenge can ask for, and a Bearer
 * challenge would send clients after a token they may already have sent.
 */
export function challengeFor(reason: DenyReason, challenges: BearerChallenges): string | undefined {
  switch (reason) {
    case 'token_missing':
      return challenges.missing
    case 'token_invalid':
    case 'token_expired':
      return challenges.invalid
    default:
      return undefined
  }
}
