import type { DenyReason, REASONS } from '../authz/reasons.js'
import { AuthzError } from '../shared/errors.js'

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
  if (!REALM_PATTERN.test(realm)) {
    throw new AuthzError('ERR_CONFIG_INVALID', 'expected 1-128 printable ASCII', {
      keyPath: 'runner_tokens.realm',
    })
  }
  const base = `Bearer realm=${quotedString(realm)}`
  return { missing: base, invalid: `${base}, error="invalid_token"` }
}

/** The deny reasons answered 401: each must say which challenge it carries, if any. */
type UnauthorizedReason = {
  [R in DenyReason]: (typeof REASONS)[R]['status'] extends 401 ? R : never
}[DenyReason]

/**
 * Which challenge each 401 carries. Only the runner-token reasons get one: they are the 401s of
 * rules that take a bearer token. identity_missing gets none: the missing credential is the TLS
 * client certificate, which no HTTP challenge can ask for, and a Bearer challenge would send
 * clients after a token they may already have sent. A new 401 reason does not compile until it
 * is listed here.
 */
const CHALLENGE: Readonly<Record<UnauthorizedReason, keyof BearerChallenges | undefined>> = {
  identity_missing: undefined,
  token_missing: 'missing',
  token_invalid: 'invalid',
  token_expired: 'invalid',
}

/** The challenge a deny carries, or undefined (every status but 401 carries none). */
export function challengeFor(reason: DenyReason, challenges: BearerChallenges): string | undefined {
  const which = (CHALLENGE as Partial<Record<DenyReason, keyof BearerChallenges>>)[reason]
  return which === undefined ? undefined : challenges[which]
}
