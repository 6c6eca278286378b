import { AuthzError } from '../shared/errors.js'
import type { CompiledPolicy, CompiledRule } from './compile-policy.js'
import type { ConditionOutcome, EvalContext } from './conditions.js'
import { type Allow, type Decision, deny, type MatchedRoute } from './decision.js'
import { REASONS } from './reasons.js'
import type { RequestFacts } from './request-facts.js'
import { isRequestMethod } from './request-method.js'
import type { RunnerCredential, RunnerCredentialResolver } from './runner-credential.js'

export interface AuthorizeDeps {
  /** Required when the policy has runner-token conditions. */
  readonly runnerTokens?: RunnerCredentialResolver | undefined
}

const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null))

interface RuleMatch {
  readonly rule: CompiledRule
  readonly params: Readonly<Record<string, string>>
}

/**
 * First rule whose method, host and path fit; none for a request authorize() refuses before
 * matching (invalid method, authority or path).
 */
export function matchRule(policy: CompiledPolicy, facts: RequestFacts): RuleMatch | undefined {
  const { segments, host } = facts
  if (segments === undefined || host === undefined || !isRequestMethod(facts.method)) {
    return undefined
  }
  return firstMatch(policy, facts.method, host, segments)
}

/** The rule loop, for a method, host and path already checked. */
function firstMatch(
  policy: CompiledPolicy,
  method: string,
  host: string,
  segments: readonly string[],
): RuleMatch | undefined {
  for (const rule of policy.rules) {
    if (rule.methods !== undefined && !rule.methods.has(method)) continue
    if (rule.hosts !== undefined && !rule.hosts.matches(host)) continue
    const params = rule.path.match(segments)
    if (params !== undefined) return { rule, params: params ?? EMPTY_PARAMS }
  }
  return undefined
}

/**
 * The decision for one request: a pure function of the request facts and the policy snapshot,
 * plus credential resolution for rules that need a runner token. Synchronous unless a token has
 * to be decrypted, so cached and SPIFFE-only decisions cost no promise hop. Never throws for a
 * request: the caller still wraps it, because any exception must become a deny.
 */
export function authorize(
  facts: RequestFacts,
  policy: CompiledPolicy,
  deps: AuthorizeDeps = {},
): Decision | Promise<Decision> {
  // Refused before matching, so no spelling of these can skip a rule (docs/policy.md). The
  // details never echo the value: it is client input of unbounded shape.
  if (!isRequestMethod(facts.method)) {
    return deny('method_invalid', 'method is not an upper-case RFC 9110 token of 1-32 characters')
  }
  const { host, segments } = facts
  if (host === undefined) {
    return deny('authority_invalid', ':authority is missing or not host[:port] (docs/policy.md)')
  }
  if (segments === undefined) {
    return deny('path_invalid', 'path is not safe to match (dot segments, encoded slashes, …)')
  }
  const match = firstMatch(policy, facts.method, host, segments)
  if (match === undefined) {
    // The detail goes to the log: never the path, which may carry session ids and secrets.
    return deny('no_matching_rule', 'no rule matches the method, host and path')
  }
  const { rule, params } = match
  const route: MatchedRoute = { template: rule.path.source, params }
  switch (rule.effect.kind) {
    case 'public':
      return allow(rule, facts, route, { ok: true }, 'public')
    case 'deny':
      return deny('rule_denies', `rule ${rule.name} denies`, rule.name, route)
    case 'any_of':
      break
  }
  if (!rule.needsRunnerToken) return evaluate(rule, route, { facts, params, runner: undefined })
  const resolver = deps.runnerTokens
  if (resolver === undefined) {
    return deny(
      'internal_error',
      'policy needs runner tokens but none are configured',
      rule.name,
      route,
    )
  }
  const runner = resolver.resolve(facts)
  if (runner instanceof Promise) {
    return runner.then((r: RunnerCredential) => evaluate(rule, route, { facts, params, runner: r }))
  }
  return evaluate(rule, route, { facts, params, runner })
}

const EMPTY_ALTERNATIVE: Extract<ConditionOutcome, { ok: false }> = {
  ok: false,
  reason: 'internal_error',
  detail: 'alternative without conditions',
}

function evaluate(rule: CompiledRule, route: MatchedRoute, ctx: EvalContext): Decision {
  if (rule.effect.kind !== 'any_of') throw new AuthzError('ERR_INTERNAL', 'unreachable')
  let worst: Extract<ConditionOutcome, { ok: false }> | undefined
  for (const alt of rule.effect.alternatives) {
    let sessionId: string | undefined
    // Compilation refuses an empty alternative; were one here, nothing evaluated must not allow.
    let failed: Extract<ConditionOutcome, { ok: false }> | undefined =
      alt.conditions.length === 0 ? EMPTY_ALTERNATIVE : undefined
    for (const condition of alt.conditions) {
      const outcome = condition.evaluate(ctx)
      if (!outcome.ok) {
        failed = outcome
        break
      }
      sessionId = outcome.sessionId ?? sessionId
    }
    if (failed === undefined) {
      return allow(rule, ctx.facts, route, { ok: true, sessionId }, 'allowed')
    }
    if (worst === undefined || precedence(failed) > precedence(worst)) worst = failed
  }
  // Every alternative failed. Report the most telling failure: a transient one (503: retry may
  // succeed) over a refusal (403) over a missing credential (401); ties go to the first.
  const w = worst ?? { reason: 'rule_denies' as const, detail: 'rule has no alternatives' }
  return deny(w.reason, `rule ${rule.name}: ${w.detail}`, rule.name, route)
}

function precedence(o: Extract<ConditionOutcome, { ok: false }>): number {
  const status = REASONS[o.reason].status
  if (status >= 500) return 3
  if (status === 403) return 2
  return 1
}

function allow(
  rule: CompiledRule,
  facts: RequestFacts,
  route: MatchedRoute,
  outcome: Extract<ConditionOutcome, { ok: true }>,
  reason: Allow['reason'],
): Allow {
  return {
    allow: true,
    rule: rule.name,
    reason,
    spiffeId: facts.peer?.uri,
    sessionId: outcome.sessionId,
    route,
  }
}
