import type { DenyReason } from '../authz/reasons.js'
import type { RequestFacts } from '../authz/request-facts.js'
import type { RunnerCredential, RunnerCredentialResolver } from '../authz/runner-credential.js'

/** What a session registry says about one session. `unavailable` never means allow. */
export type LivenessVerdict = 'live' | 'gone' | 'unavailable'

/** A registry answers synchronously on a cache hit, so cached sessions add no promise hop. */
export interface LivenessCheck {
  check(sessionId: string): LivenessVerdict | Promise<LivenessVerdict>
}

const REASON: Record<Exclude<LivenessVerdict, 'live'>, DenyReason> = {
  gone: 'session_not_live',
  unavailable: 'session_registry_unavailable',
}

function apply(cred: RunnerCredential, verdict: LivenessVerdict): RunnerCredential {
  if (verdict === 'live') return cred
  // Fail closed: anything other than an explicit `live` denies.
  const reason = REASON[verdict] ?? 'session_registry_unavailable'
  return { state: 'failed', reason, detail: `session registry: ${verdict}` }
}

function afterCredential(
  cred: RunnerCredential,
  registry: LivenessCheck,
): RunnerCredential | Promise<RunnerCredential> {
  if (cred.state !== 'valid') return cred
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
 * Decorates a token resolver: valid credentials must also be live; absent and failed ones pass
 * through unchanged. Stays synchronous when both the inner resolver and the registry answer sync.
 */
export function withLiveness(
  inner: RunnerCredentialResolver,
  registry: LivenessCheck,
): RunnerCredentialResolver {
  return {
    resolve(facts: RequestFacts) {
      const cred = inner.resolve(facts)
      if ('state' in cred) return afterCredential(cred, registry)
      return cred.then((c) => afterCredential(c, registry))
    },
  }
}
