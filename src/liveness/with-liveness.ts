import type { CredentialFailure, CredentialInput, CredentialResolver } from '../authz/credential.js'
import type { DenyReason } from '../authz/reasons.js'

/** What a session registry says about one session. `unavailable` never means allow. */
export type LivenessVerdict = 'live' | 'gone' | 'unavailable'

/** A registry answers synchronously on a cache hit, so cached sessions add no promise hop. */
export interface LivenessCheck {
  check(sessionId: string): LivenessVerdict | Promise<LivenessVerdict>
}

/** A resolved credential as liveness reads it: a valid one names the session to check. */
export interface SessionCredential {
  readonly state: string
  readonly sessionId?: string
}

const REASON: Record<Exclude<LivenessVerdict, 'live'>, DenyReason> = {
  gone: 'session_not_live',
  unavailable: 'session_registry_unavailable',
}

function apply<T>(cred: T, verdict: LivenessVerdict): T | CredentialFailure {
  if (verdict === 'live') return cred
  // Fail closed: anything other than an explicit `live` denies.
  const reason = REASON[verdict] ?? 'session_registry_unavailable'
  return { state: 'failed', reason, detail: `session registry: ${verdict}` }
}

function afterCredential<T extends SessionCredential>(
  cred: T,
  registry: LivenessCheck,
): T | CredentialFailure | Promise<T | CredentialFailure> {
  if (cred.state !== 'valid' || cred.sessionId === undefined) return cred
  let verdict: LivenessVerdict | Promise<LivenessVerdict>
  try {
    verdict = registry.check(cred.sessionId)
  } catch {
    return apply(cred, 'unavailable')
  }
  if (typeof verdict === 'string') return apply(cred, verdict)
  return verdict.then(
    (v) => apply(cred, v),
    () => apply(cred, 'unavailable'),
  )
}

/**
 * Decorates a credential resolver: valid credentials' sessions must also be live; absent and
 * failed ones pass through unchanged. Stays synchronous when both the inner resolver and the
 * registry answer synchronously.
 */
export function withLiveness<N extends CredentialInput, T extends SessionCredential>(
  inner: CredentialResolver<N, T>,
  registry: LivenessCheck,
): CredentialResolver<N, T | CredentialFailure> {
  return {
    resolve(request) {
      const cred = inner.resolve(request)
      if (cred instanceof Promise) return cred.then((c) => afterCredential(c, registry))
      return afterCredential(cred, registry)
    },
  }
}
