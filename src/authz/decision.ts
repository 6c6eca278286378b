import type { DenyReason } from './reasons.js'

/**
 * The rule's path template and what it captured. The captured values are raw request text: the
 * decision log prints the template with each value replaced by its keyed hash, never the values.
 */
export interface MatchedRoute {
  /** The matched rule's path template as configured, e.g. `/api/sessions/{session}/**`. */
  readonly template: string
  /** Captured values by parameter name. */
  readonly params: Readonly<Record<string, string>>
}

export interface Allow {
  readonly allow: true
  readonly rule: string
  /** `public` when the rule needs no credential. */
  readonly reason: 'allowed' | 'public'
  /** The peer SPIFFE ID the decision relied on or saw, set as an identity header upstream. */
  readonly spiffeId: string | undefined
  /** The runner session id a runner-token condition established. */
  readonly sessionId: string | undefined
  /** The route the rule matched (absent only for decisions built outside authorize()). */
  readonly route?: MatchedRoute | undefined
}

export interface Deny {
  readonly allow: false
  readonly rule: string | undefined
  readonly reason: DenyReason
  /**
   * For the server log only, never for the client. A fixed text, or one built from config
   * (rule and parameter names): never a credential, a session id, a path or a captured value.
   */
  readonly detail: string
  /** The route of the rule that denied; undefined when no rule matched. */
  readonly route?: MatchedRoute | undefined
}

export type Decision = Allow | Deny

export function deny(
  reason: DenyReason,
  detail: string,
  rule?: string,
  route?: MatchedRoute,
): Deny {
  return { allow: false, rule, reason, detail, route }
}
