import type { DenyReason } from './reasons.js'
import type { RequestFacts } from './request-facts.js'

/** The outcome of turning a bearer credential into a runner session, before policy looks at it. */
export type RunnerCredential =
  | { readonly state: 'absent' }
  | {
      readonly state: 'failed'
      /** token_invalid for every decryption failure (no oracle), token_expired, overloaded, … */
      readonly reason: DenyReason
      readonly detail: string
    }
  | { readonly state: 'valid'; readonly sessionId: string; readonly keyId: string }

/**
 * Resolves the request's bearer token (decryption, cache, liveness). Returns synchronously on a
 * cache hit so the hot path stays free of promise hops.
 */
export interface RunnerCredentialResolver {
  resolve(facts: RequestFacts): RunnerCredential | Promise<RunnerCredential>
}
