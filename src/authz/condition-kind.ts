import type { z } from 'zod'
import type { Condition } from './conditions.js'
import type { CredentialSpec } from './credential.js'
import type { PathTemplate } from './path-template.js'

/** A problem of a condition in its rule, at a key path below the condition. */
export interface RuleProblem {
  readonly path: readonly (string | number)[]
  readonly message: string
}

/**
 * A kind of policy condition (`spiffe`, `runner_token`): its key and piece of the config schema,
 * its compiler, and the credential its conditions need. config/schema.ts lists the kinds
 * (CONDITION_KINDS); the core evaluates them without naming any.
 */
export interface ConditionKind<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  /** Its key in an any_of alternative. */
  readonly name: Name
  readonly schema: Schema
  /** The credential resolved before its conditions are evaluated; none: the request alone. */
  readonly credential?: CredentialSpec | undefined
  /** The top-level config section its credential is built from, and the error without it. */
  readonly credentialSection?: { readonly key: string; readonly message: string } | undefined
  /** The evaluable condition; throws an AuthzError (ERR_POLICY_UNCOMPILABLE) when it cannot. */
  compile(config: z.output<Schema>, rule: { readonly path: PathTemplate }): Condition
  /** Config problems beyond its own schema, e.g. a path parameter it names that the rule lacks. */
  checkInRule?(
    config: z.output<Schema>,
    rule: { readonly path: string; readonly params: readonly string[] },
  ): RuleProblem | undefined
}

/** Keeps a kind's literal name and schema type (config/schema.ts derives the alternative's type). */
export function defineConditionKind<Name extends string, Schema extends z.ZodType>(
  kind: ConditionKind<Name, Schema>,
): ConditionKind<Name, Schema> {
  return kind
}
