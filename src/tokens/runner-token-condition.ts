import { defineConditionKind } from '../authz/condition-kind.js'
import type { Condition, ConditionOutcome, EvalContext } from '../authz/conditions.js'
import { AuthzError } from '../shared/errors.js'
import { RunnerTokenConditionSchema } from './config-schema.js'
import { RUNNER_TOKEN_CREDENTIAL, type RunnerCredential } from './runner-credential.js'

/** "A runner token whose session id equals the path parameter {session}". */
class RunnerTokenCondition implements Condition<RunnerCredential> {
  readonly kind = 'runner_token'
  readonly credential = RUNNER_TOKEN_CREDENTIAL

  constructor(private readonly sessionParam: string | undefined) {}

  evaluate({ params }: EvalContext, runner: RunnerCredential | undefined): ConditionOutcome {
    if (runner === undefined || runner.state === 'absent') {
      return { ok: false, reason: 'token_missing', detail: 'no bearer token' }
    }
    if (runner.state === 'failed')
      return { ok: false, reason: runner.reason, detail: runner.detail }
    if (this.sessionParam !== undefined && params[this.sessionParam] !== runner.sessionId) {
      return {
        ok: false,
        reason: 'session_mismatch',
        detail: `token session differs from path {${this.sessionParam}}`,
      }
    }
    return { ok: true, sessionId: runner.sessionId }
  }
}

/** `runner_token`: compiles only while runner-token keys are configured (the credential). */
export const runnerTokenCondition = defineConditionKind({
  name: 'runner_token',
  schema: RunnerTokenConditionSchema,
  credential: RUNNER_TOKEN_CREDENTIAL,
  credentialSection: {
    key: 'runner_tokens',
    message: 'a runner_token condition needs a runner_tokens section (keys)',
  },
  compile(condition, { path }) {
    const param = condition.session_param
    if (param !== undefined && !path.params.includes(param)) {
      throw new AuthzError(
        'ERR_POLICY_UNCOMPILABLE',
        `session_param {${param}} is not a parameter of the rule's path`,
      )
    }
    return new RunnerTokenCondition(param)
  },
  checkInRule(condition, rule) {
    const param = condition.session_param
    if (param === undefined || rule.params.includes(param)) return undefined
    return {
      path: ['session_param'],
      message: `the path template ${JSON.stringify(rule.path)} has no {${param}} parameter`,
    }
  },
})
