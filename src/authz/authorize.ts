import { AuthzError } from '../shared/errors.js'
import type { CompiledPolicy, CompiledRule } from './compile-policy.js'
import type { Condition, ConditionOutcome, EvalContext } from './conditions.js'
import type { CredentialResolvers, CredentialSpec } from './credential.js'
import { type Allow, type Decision, deny, type MatchedRoute } from './decision.js'
import { REASONS } from './reasons.js'
import type { RequestFacts } from './request-facts.js'
import { isRequestMethod } from './request-method.js'

export interface AuthorizeDeps {
  /** Resolvers by credential name: required for each credential the policy's conditions read. */
  readonly credentials?: CredentialResolvers | undefined
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
 * plus resolution of the credentials the matched rule's conditions read. Synchronous unless a
 * credential resolves asynchronously (a token to decrypt), so cached and SPIFFE-only decisions
 * cost no promise hop. Never throws for a
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
  const needed = rule.credentials
  const ctx: EvalContext = { facts, params }
  if (needed.length === 0) return evaluate(rule, route, ctx, undefined)
  if (needed.length === 1) {
    // The common case: one credential, its value handed on as is (no array per request).
    const resolver = resolverFor(deps, needed[0] as CredentialSpec)
    if (resolver === undefined) return notConfigured(needed[0] as CredentialSpec, rule, route)
    const value = resolver.resolve(facts)
    if (value instanceof Promise) return value.then((v) => evaluate(rule, route, ctx, v))
    return evaluate(rule, route, ctx, value)
  }
  for (const spec of needed) {
    if (resolverFor(deps, spec) === undefined) return notConfigured(spec, rule, route)
  }
  let pending = false
  const values = needed.map((spec) => {
    const value = resolverFor(deps, spec)?.resolve(facts)
    if (value instanceof Promise) pending = true
    return value
  })
  if (pending) return Promise.all(values).then((vs) => evaluate(rule, route, ctx, vs))
  return evaluate(rule, route, ctx, values)
}

function resolverFor(deps: AuthorizeDeps, spec: CredentialSpec) {
  return deps.credentials?.[spec.name]
}

function notConfigured(spec: CredentialSpec, rule: CompiledRule, route: MatchedRoute): Decision {
  const detail = `policy needs ${spec.label} but none are configured`
  return deny('internal_error', detail, rule.name, route)
}

/**
 * The resolved credential a condition reads: `resolved` is the value itself when the rule reads
 * one credential, else the values in the order of rule.credentials.
 */
function credentialFor(rule: CompiledRule, resolved: unknown, condition: Condition): unknown {
  const spec = condition.credential
  if (spec === undefined) return undefined
  if (rule.credentials.length === 1) return resolved
  return (resolved as readonly unknown[])[rule.credentials.indexOf(spec)]
}

const EMPTY_ALTERNATIVE: Extract<ConditionOutcome, { ok: false }> = {
  ok: false,
  reason: 'internal_error',
  detail: 'alternative without conditions',
}

function evaluate(
  rule: CompiledRule,
  route: MatchedRoute,
  ctx: EvalContext,
  resolved: unknown,
): Decision {
  if (rule.effect.kind !== 'any_of') throw new AuthzError('ERR_INTERNAL', 'unreachable')
  let worst: Extract<ConditionOutcome, { ok: false }> | undefined
  for (const alt of rule.effect.alternatives) {
    let sessionId: string | undefined
    // Compilation refuses an empty alternative; were one here, nothing evaluated must not allow.
    let failed: Extract<ConditionOutcome, { ok: false }> | undefined =
      alt.conditions.length === 0 ? EMPTY_ALTERNATIVE : undefined
    for (const condition of alt.conditions) {
      const outcome = condition.evaluate(ctx, credentialFor(rule, resolved, condition))
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
