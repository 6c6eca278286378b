import type { AuthorizeDeps } from './authz/authorize.js'
import { type ConditionCompiler, compilePolicy } from './authz/compile-policy.js'
import type { Config } from './config/schema.js'
import { Responder } from './extproc/respond.js'
import type { Snapshot } from './extproc/snapshot.js'

export interface SnapshotExtensions {
  /** Conditions beyond SPIFFE (runner tokens). */
  readonly conditions?: readonly ConditionCompiler[]
  readonly deps?: AuthorizeDeps
}

/** Builds the immutable decision snapshot for a validated config. Throws on a bad config. */
export function buildSnapshot(config: Config, ext: SnapshotExtensions = {}): Snapshot {
  return {
    policy: compilePolicy(config.policy, ext.conditions ?? []),
    identity: { xfcc: config.identity.xfcc.enabled },
    responder: new Responder({
      spiffeId: config.headers.spiffe_id,
      sessionId: config.headers.session_id,
      strip: config.headers.strip,
    }),
    limits: {
      maxHeaders: config.limits.max_headers,
      maxHeaderBytes: config.limits.max_header_bytes,
      streamIdleTimeoutMs: config.limits.stream_idle_timeout_ms,
    },
    deps: ext.deps ?? {},
  }
}
