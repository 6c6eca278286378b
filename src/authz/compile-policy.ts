import { AuthzError } from '../shared/errors.js'
import { HOST_PATTERN_HELP, parseHostPattern } from './authority.js'
import type { ConditionKind } from './condition-kind.js'
import type { Condition } from './conditions.js'
import type { CredentialResolvers, CredentialSpec } from './credential.js'
import { compilePathTemplate, type PathTemplate } from './path-template.js'
import type { PolicyDocument, RuleDocument } from './policy-schema.js'

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
  /** The credentials its conditions read, resolved before evaluation (distinct; often none). */
  readonly credentials: readonly CredentialSpec[]
}

export interface CompiledPolicy {
  readonly rules: readonly CompiledRule[]
}

const NO_CREDENTIALS: CredentialResolvers = Object.freeze(Object.create(null))

/** A policy that cannot be enforced as written; `keyPath` is the config key path of the problem. */
export class PolicyCompileError extends AuthzError {
  static readonly code = 'ERR_POLICY_UNCOMPILABLE'
  override readonly name = 'PolicyCompileError'
  declare readonly code: typeof PolicyCompileError.code
  declare readonly keyPath: string
  constructor(keyPath: string, problem: string) {
    super(PolicyCompileError.code, problem, { keyPath })
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

function compileCondition(
  name: string,
  value: unknown,
  path: PathTemplate,
  kinds: readonly ConditionKind[],
  credentials: CredentialResolvers,
  where: string,
): Condition {
  const kind = kinds.find((k) => k.name === name)
  if (kind === undefined) throw new PolicyCompileError(where, `unknown condition kind "${name}"`)
  const needed = kind.credential
  if (needed !== undefined && credentials[needed.name] === undefined) {
    const missing = kind.credentialSection?.message ?? `a "${name}" condition needs ${needed.label}`
    throw new PolicyCompileError(where, missing)
  }
  try {
    return kind.compile(value, { path })
  } catch (err) {
    throw new PolicyCompileError(where, err instanceof AuthzError ? err.problem : String(err))
  }
}

function compileRule(
  rule: RuleDocument,
  i: number,
  kinds: readonly ConditionKind[],
  credentials: CredentialResolvers,
): CompiledRule {
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
          compileCondition(kind, value, path, kinds, credentials, `${at}.any_of[${j}].${kind}`),
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
    credentials: effect.kind === 'any_of' ? credentialsOf(effect.alternatives) : [],
  }
}

function credentialsOf(alternatives: readonly Alternative[]): CredentialSpec[] {
  const specs = new Set<CredentialSpec>()
  for (const a of alternatives)
    for (const c of a.conditions) if (c.credential) specs.add(c.credential)
  return [...specs]
}

/**
 * Compiles a validated policy config: the one compile path of `serve`, a reload, `config check`
 * and `policy test`. `kinds` are the condition kinds it may hold (config's CONDITION_KINDS), and
 * a kind needing a credential compiles only when `credentials` has its resolver. Total: every
 * condition is compiled or this throws PolicyCompileError.
 */
export function compilePolicy(
  policy: PolicyDocument,
  kinds: readonly ConditionKind[],
  credentials: CredentialResolvers = NO_CREDENTIALS,
): CompiledPolicy {
  return { rules: policy.rules.map((r, i) => compileRule(r, i, kinds, credentials)) }
}
