import type { CredentialFailure, CredentialResolver, CredentialSpec } from '../authz/credential.js'

/** The outcome of turning a bearer credential into a runner session, before policy looks at it. */
export type RunnerCredential =
  | { readonly state: 'absent' }
  | CredentialFailure
  | { readonly state: 'valid'; readonly sessionId: string; readonly keyId: string }

/**
 * Resolves the request's bearer token (decryption, cache, liveness). Returns synchronously on a
 * cache hit so the hot path stays free of promise hops.
 */
export type RunnerCredentialResolver = CredentialResolver<'bearer', RunnerCredential>

/** The runner_token condition's credential: the bearer token, decrypted to a session. */
export const RUNNER_TOKEN_CREDENTIAL: CredentialSpec = {
  name: 'runner_token',
  label: 'runner tokens',
}
