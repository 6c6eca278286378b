import type { DenyReason } from './reasons.js'
import type { RequestFacts } from './request-facts.js'

/** The request facts a credential may be built from (a bearer token, the peer). */
export type CredentialInput = keyof RequestFacts

/**
 * What a condition kind says about its credential: the name its resolver is registered under
 * and the words for it in an "is not configured" deny. What it reads from the request is its
 * resolver's type (CredentialResolver<'bearer'> sees only the bearer token).
 */
export interface CredentialSpec {
  readonly name: string
  /** e.g. `runner tokens`: "policy needs runner tokens but none are configured". */
  readonly label: string
}

/**
 * Turns what a credential needs from the request into facts its conditions read (a decrypted
 * session, a verified JWT). Sees only the facts it declared; answers synchronously when it can
 * (a cache hit), so the hot path pays no promise hop.
 */
export interface CredentialResolver<N extends CredentialInput = CredentialInput, T = unknown> {
  resolve(request: Pick<RequestFacts, N>): T | Promise<T>
}

/** Resolvers by credential name, as the app built them from the config (AuthorizeDeps). */
export type CredentialResolvers = Readonly<Record<string, CredentialResolver | undefined>>

/** A credential that was presented and is unusable: the deny it leads to. */
export interface CredentialFailure {
  readonly state: 'failed'
  /** token_invalid for every decryption failure (no oracle), token_expired, overloaded, … */
  readonly reason: DenyReason
  readonly detail: string
}
