import type { ConditionCompiler } from '../authz/compile-policy.js'
import type { Condition, ConditionOutcome, EvalContext } from '../authz/conditions.js'

/** "A runner token whose session id equals the path parameter {session}". */
export class RunnerTokenCondition implements Condition {
  readonly kind = 'runner_token'
  readonly needsRunnerToken = true

  constructor(
    private readonly sessionParam: string | undefined,
    private readonly stripAuthorization: boolean,
  ) {}

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
    return { ok: true, sessionId: runner.sessionId, stripAuthorization: this.stripAuthorization }
  }
}

export function runnerTokenConditions(stripAuthorization: boolean): ConditionCompiler {
  return (alt) =>
    alt.runner_token === undefined
      ? []
      : [new RunnerTokenCondition(alt.runner_token.session_param, stripAuthorization)]
}
