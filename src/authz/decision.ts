import type { DenyReason } from './reasons.js'

export interface Allow {
  readonly allow: true
  readonly rule: string
  /** `public` when the rule needs no credential. */
  readonly reason: 'allowed' | 'public'
  /** The peer SPIFFE ID the decision relied on or saw, set as an identity header upstream. */
  readonly spiffeId: string | undefined
  /** The runner session id a runner-token condition established. */
  readonly sessionId: string | undefined
}

export interface Deny {
  readonly allow: false
  readonly rule: string | undefined
  readonly reason: DenyReason
  /** For the server log only, never for the client. Must not contain credentials. */
  readonly detail: string
}

export type Decision = Allow | Deny

export function deny(reason: DenyReason, detail: string, rule?: string): Deny {
  return { allow: false, rule, reason, detail }
}
