import type { AlternativeConfig, PolicyConfig, RuleConfig } from '../config/schema.js'
import type { SpiffeIdMatcher } from '../identity/spiffe-id.js'
import { type Condition, SpiffeCondition } from './conditions.js'
import { compilePathTemplate, type PathTemplate } from './path-template.js'

export interface Alternative {
  readonly conditions: readonly Condition[]
}

export type RuleEffect =
  | { readonly kind: 'public' }
  | { readonly kind: 'deny' }
  | { readonly kind: 'any_of'; readonly alternatives: readonly Alternative[] }

export interface CompiledRule {
  readonly name: string
  /** Undefined: any method. */
  readonly methods: ReadonlySet<string> | undefined
  readonly path: PathTemplate
  readonly hosts: HostMatcher | undefined
  readonly effect: RuleEffect
  /** Some condition needs the bearer token resolved (decrypted) before evaluation. */
  readonly needsRunnerToken: boolean
}

export interface CompiledPolicy {
  readonly rules: readonly CompiledRule[]
}

/** Extends compilation with conditions defined outside the foundation (runner tokens, …). */
export type ConditionCompiler = (alt: AlternativeConfig, path: PathTemplate) => Condition[]

export interface HostMatcher {
  matches(host: string): boolean
}

function hostMatcher(hosts: readonly string[]): HostMatcher {
  const exact = new Set<string>()
  const suffixes: string[] = []
  for (const h of hosts) {
    if (h.startsWith('*.')) suffixes.push(h.slice(1))
    else exact.add(h)
  }
  return {
    matches(host) {
      if (exact.has(host)) return true
      for (const s of suffixes) if (host.length > s.length && host.endsWith(s)) return true
      return false
    },
  }
}

function spiffeMatchers(c: NonNullable<AlternativeConfig['spiffe']>): SpiffeIdMatcher[] {
  return [
    ...(c.ids ?? []).map((id): SpiffeIdMatcher => ({ kind: 'exact', id })),
    ...(c.prefixes ?? []).map((prefix): SpiffeIdMatcher => ({ kind: 'prefix', prefix })),
    ...(c.trust_domains ?? []).map(
      (trustDomain): SpiffeIdMatcher => ({ kind: 'trust_domain', trustDomain }),
    ),
  ]
}

function compileRule(rule: RuleConfig, extra: readonly ConditionCompiler[]): CompiledRule {
  const path = compilePathTemplate(rule.path)
  let effect: RuleEffect
  if (rule.public) effect = { kind: 'public' }
  else if (rule.deny) effect = { kind: 'deny' }
  else {
    const alternatives = (rule.any_of ?? []).map((alt): Alternative => {
      const conditions: Condition[] = []
      if (alt.spiffe) conditions.push(new SpiffeCondition(spiffeMatchers(alt.spiffe)))
      for (const compile of extra) conditions.push(...compile(alt, path))
      return { conditions }
    })
    effect = { kind: 'any_of', alternatives }
  }
  return {
    name: rule.name,
    methods: rule.methods ? new Set(rule.methods) : undefined,
    path,
    hosts: rule.hosts ? hostMatcher(rule.hosts) : undefined,
    effect,
    needsRunnerToken:
      effect.kind === 'any_of' &&
      effect.alternatives.some((a) => a.conditions.some((c) => c.needsRunnerToken)),
  }
}

/** Compiles a validated policy config; path templates were checked by the schema. */
export function compilePolicy(
  policy: PolicyConfig,
  extra: readonly ConditionCompiler[] = [],
): CompiledPolicy {
  return { rules: policy.rules.map((r) => compileRule(r, extra)) }
}
