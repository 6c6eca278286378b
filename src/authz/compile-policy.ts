import type { AlternativeConfig, PolicyConfig, RuleConfig } from '../config/schema.js'
import type { SpiffeIdMatcher } from '../identity/spiffe-id.js'
import { HOST_PATTERN_HELP, parseHostPattern } from './authority.js'
import { type Condition, SpiffeCondition } from './conditions.js'
import { compilePathTemplate, type PathTemplate } from './path-template.js'

interface Alternative {
  /** Never empty: compilation refuses an alternative without an evaluable condition. */
  readonly conditions: readonly Condition[]
}

type RuleEffect =
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

/** Every condition kind the config schema defines for an alternative. */
type ConditionKind = keyof AlternativeConfig

/**
 * Compilers for the condition kinds that need credentials or sources beyond the policy itself
 * (runner tokens need keys): each is present only when the config provides what it needs. A
 * condition whose kind has no compiler makes compilation throw; it is never dropped.
 */
export type ConditionCompilers = {
  readonly [K in Exclude<ConditionKind, 'spiffe'>]?: (
    condition: NonNullable<AlternativeConfig[K]>,
    rule: { readonly path: PathTemplate },
  ) => Condition
}

/** A policy that cannot be enforced as written; `path` is the config key path of the problem. */
export class PolicyCompileError extends Error {
  override readonly name = 'PolicyCompileError'
  readonly code = 'ERR_POLICY_UNCOMPILABLE'
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`)
  }
}

interface HostMatcher {
  matches(host: string): boolean
}

// Entries are normalised as request hosts are (hostOfAuthority): `Admin.Example.org.` in the
// config and `admin.example.org:443` in a request are the same host.
function hostMatcher(hosts: readonly string[], at: string): HostMatcher {
  const exact = new Set<string>()
  const suffixes: string[] = []
  hosts.forEach((h, i) => {
    const pattern = parseHostPattern(h)
    if (pattern === undefined) {
      throw new PolicyCompileError(
        `${at}.hosts[${i}]`,
        `${JSON.stringify(h)}: ${HOST_PATTERN_HELP}`,
      )
    }
    if (pattern.kind === 'suffix') suffixes.push(pattern.suffix)
    else exact.add(pattern.host)
  })
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

/** What a runner_token condition needs that a policy alone cannot give. */
const MISSING: Record<Exclude<ConditionKind, 'spiffe'>, string> = {
  runner_token: 'a runner_token condition needs a runner_tokens section (keys)',
}

function compileCondition(
  kind: string,
  value: unknown,
  path: PathTemplate,
  compilers: ConditionCompilers,
  where: string,
): Condition {
  if (kind === 'spiffe') {
    const matchers = spiffeMatchers(value as NonNullable<AlternativeConfig['spiffe']>)
    if (matchers.length === 0) {
      throw new PolicyCompileError(where, 'a spiffe condition needs at least one matcher')
    }
    return new SpiffeCondition(matchers)
  }
  if (kind === 'runner_token') {
    const compile = compilers.runner_token
    if (compile === undefined) throw new PolicyCompileError(where, MISSING.runner_token)
    try {
      return compile(value as NonNullable<AlternativeConfig['runner_token']>, { path })
    } catch (err) {
      throw new PolicyCompileError(where, (err as Error).message)
    }
  }
  throw new PolicyCompileError(where, `unknown condition kind "${kind}"`)
}

function compileRule(rule: RuleConfig, i: number, compilers: ConditionCompilers): CompiledRule {
  const path = compilePathTemplate(rule.path)
  const at = `policy.rules[${i}]`
  const effects = [rule.public, rule.deny, rule.any_of].filter((e) => e !== undefined).length
  if (effects !== 1) {
    throw new PolicyCompileError(
      at,
      'a rule needs exactly one of public: true, deny: true or any_of',
    )
  }
  let effect: RuleEffect
  if (rule.public === true) effect = { kind: 'public' }
  else if (rule.deny === true) effect = { kind: 'deny' }
  else {
    const alts = rule.any_of ?? []
    if (alts.length === 0) throw new PolicyCompileError(`${at}.any_of`, 'no alternatives')
    const alternatives = alts.map((alt, j): Alternative => {
      const conditions: Condition[] = []
      for (const [kind, value] of Object.entries(alt)) {
        if (value === undefined) continue
        conditions.push(
          compileCondition(kind, value, path, compilers, `${at}.any_of[${j}].${kind}`),
        )
      }
      // An alternative with nothing to evaluate would allow everyone: a configuration error.
      if (conditions.length === 0) {
        throw new PolicyCompileError(`${at}.any_of[${j}]`, 'an alternative needs a condition')
      }
      return { conditions }
    })
    effect = { kind: 'any_of', alternatives }
  }
  return {
    name: rule.name,
    methods: rule.methods ? new Set(rule.methods) : undefined,
    path,
    hosts: rule.hosts ? hostMatcher(rule.hosts, at) : undefined,
    effect,
    needsRunnerToken:
      effect.kind === 'any_of' &&
      effect.alternatives.some((a) => a.conditions.some((c) => c.needsRunnerToken)),
  }
}

/**
 * Compiles a validated policy config: the one compile path of `serve`, a reload, `config check`
 * and `policy test`. Total: every condition is compiled or this throws PolicyCompileError.
 */
export function compilePolicy(
  policy: PolicyConfig,
  compilers: ConditionCompilers = {},
): CompiledPolicy {
  return { rules: policy.rules.map((r, i) => compileRule(r, i, compilers)) }
}
