import type { SpiffeIdMatcher } from '../identity/spiffe-id.js'
import { matchesSpiffeId } from '../identity/spiffe-id.js'
import type { DenyReason } from './reasons.js'
import type { RequestFacts } from './request-facts.js'
import type { RunnerCredential } from './runner-credential.js'

export interface EvalContext {
  readonly facts: RequestFacts
  /** Named parameters captured by the rule's path template. */
  readonly params: Readonly<Record<string, string>>
  /** Resolved before evaluation when the rule has a condition that needs a runner token. */
  readonly runner: RunnerCredential | undefined
}

export type ConditionOutcome =
  | {
      readonly ok: true
      readonly sessionId?: string | undefined
    }
  | { readonly ok: false; readonly reason: DenyReason; readonly detail: string }

/**
 * One requirement inside an alternative. Conditions are pure and synchronous: anything that
 * needs I/O or crypto (runner tokens) is resolved into the EvalContext first.
 */
export interface Condition {
  readonly kind: string
  readonly needsRunnerToken: boolean
  evaluate(ctx: EvalContext): ConditionOutcome
}

const OK: ConditionOutcome = { ok: true }

export class SpiffeCondition implements Condition {
  readonly kind = 'spiffe'
  readonly needsRunnerToken = false

  constructor(private readonly matchers: readonly SpiffeIdMatcher[]) {}

  evaluate({ facts }: EvalContext): ConditionOutcome {
    const peer = facts.peer
    if (peer === undefined) {
      return { ok: false, reason: 'identity_missing', detail: 'no valid peer SPIFFE ID' }
    }
    for (const m of this.matchers) if (matchesSpiffeId(peer, m)) return OK
    // The peer is logged in its own field; details stay fixed texts.
    return { ok: false, reason: 'identity_not_allowed', detail: 'peer SPIFFE ID is not allowed' }
  }
}
