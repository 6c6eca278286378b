import type { ConditionCompilers } from '../authz/compile-policy.js'
import type { Condition, ConditionOutcome, EvalContext } from '../authz/conditions.js'

/** "A runner token whose session id equals the path parameter {session}". */
class RunnerTokenCondition implements Condition {
  readonly kind = 'runner_token'
  readonly needsRunnerToken = true

  constructor(private readonly sessionParam: string | undefined) {}

  evaluate({ runner, params }: EvalContext): ConditionOutcome {
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

/** The runner_token compiler: present only while runner-token keys are configured. */
export const runnerTokenCompilers: ConditionCompilers = {
  runner_token: (condition, { path }) => {
    const param = condition.session_param
    if (param !== undefined && !path.params.includes(param)) {
      throw new Error(`session_param {${param}} is not a parameter of the rule's path`)
    }
    return new RunnerTokenCondition(param)
  },
}
