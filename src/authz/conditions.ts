import type { CredentialSpec } from './credential.js'
import type { DenyReason } from './reasons.js'
import type { RequestFacts } from './request-facts.js'

export interface EvalContext {
  readonly facts: RequestFacts
  /** Named parameters captured by the rule's path template. */
  readonly params: Readonly<Record<string, string>>
}

export type ConditionOutcome =
  | {
      readonly ok: true
      readonly sessionId?: string | undefined
    }
  | { readonly ok: false; readonly reason: DenyReason; readonly detail: string }

/**
 * One requirement inside an alternative. Conditions are pure and synchronous: anything that
 * needs I/O or crypto is a credential, resolved before evaluation and handed to evaluate().
 */
export interface Condition<T = unknown> {
  readonly kind: string
  /** The credential evaluate() receives resolved; undefined: the condition reads the request only. */
  readonly credential: CredentialSpec | undefined
  evaluate(ctx: EvalContext, credential: T | undefined): ConditionOutcome
}
