import { compilePolicy } from '../authz/compile-policy.js'
import { CONDITION_KINDS, type Config } from '../config/schema.js'
import { Responder } from '../extproc/respond.js'
import type { Snapshot } from '../extproc/snapshot.js'
import { randomHashKey, SessionHasher } from '../shared/session-hasher.js'
import { type Credentials, NO_CREDENTIALS } from './build-credentials.js'

/** Whether Authorization is removed on every allow (the deprecated runner_tokens spelling too). */
function stripsAuthorization(config: Config): boolean {
  return config.headers.strip_authorization ?? config.runner_tokens?.strip_authorization ?? true
}

/**
 * Builds the immutable decision snapshot for a validated config and the credentials built from
 * that same config (buildCredentials). Throws on a policy that cannot be enforced as written.
 * `hasher` is the server's log hash (logging.hash_key_file): the decision metadata's session
 * hash is the decision log's. Callers that serve nothing (config check) may leave it out.
 */
export function buildSnapshot(
  config: Config,
  credentials: Pick<Credentials, 'deps'> = NO_CREDENTIALS,
  hasher?: SessionHasher,
): Snapshot {
  return {
    policy: compilePolicy(config.policy, CONDITION_KINDS, credentials.deps.credentials),
    identity: { xfcc: config.identity.xfcc.enabled },
    responder: new Responder(
      {
        spiffeId: config.headers.spiffe_id,
        sessionId: config.headers.session_id,
        strip: config.headers.strip,
        stripAuthorization: stripsAuthorization(config),
      },
      {
        metadata: config.decision_metadata.enabled
          ? {
              namespace: config.decision_metadata.namespace,
              xfcc: config.identity.xfcc.enabled,
              requestId: config.decision_metadata.request_id,
              hasher: hasher ?? new SessionHasher(randomHashKey()),
            }
          : undefined,
        realm: config.runner_tokens?.realm,
      },
    ),
    limits: {
      maxHeaders: config.limits.max_headers,
      maxHeaderBytes: config.limits.max_header_bytes,
      streamIdleTimeoutMs: config.limits.stream_idle_timeout_ms,
    },
    deps: credentials.deps,
  }
}
