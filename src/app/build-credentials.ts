import type { AuthorizeDeps } from '../authz/authorize.js'
import type { Config } from '../config/schema.js'
import { startFileRegistry } from '../liveness/file-registry.js'
import { HttpRegistry } from '../liveness/http-registry.js'
import { type LivenessCheck, withLiveness } from '../liveness/with-liveness.js'
import { AuthzError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { RUNNER_TOKEN_CREDENTIAL } from '../tokens/runner-credential.js'
import { type RunnerTokens, setUpRunnerTokens } from '../tokens/runner-tokens.js'

/**
 * The config sections credentials are built from. buildCredentials sees only these (its config
 * type is picked from this list), and a reload rebuilds the credentials exactly when one of them
 * changes, keeping caches otherwise: a new credential source adds its section here.
 */
export const CREDENTIAL_SECTIONS = ['runner_tokens', 'session_registry', 'workers'] as const

export type CredentialConfig = Pick<Config, (typeof CREDENTIAL_SECTIONS)[number]>

export interface Credentials {
  readonly tokens: RunnerTokens | undefined
  readonly registry: (LivenessCheck & { close(): void }) | undefined
  /** deps.credentials: a resolver per credential the config provides, by credential name. */
  readonly deps: AuthorizeDeps
  close(): void
}

/** No runner tokens: runner_token conditions do not compile. */
export const NO_CREDENTIALS: Credentials = {
  tokens: undefined,
  registry: undefined,
  deps: {},
  close() {},
}

/**
 * The credentials and sources a config's rules depend on: runner-token keys (parsed once,
 * watched) and, when configured, the session registry a valid token's session must be live in.
 * Built the same way for `serve`, a reload, `config check` and `policy test`; throws (closing
 * whatever it opened) when any part cannot be loaded.
 */
export async function buildCredentials(
  config: CredentialConfig,
  logger: Logger,
  { watch = true } = {},
): Promise<Credentials> {
  if (config.runner_tokens === undefined) {
    // The schema refuses session_registry without runner_tokens; never ignore one silently.
    if (config.session_registry !== undefined) {
      throw new AuthzError('ERR_CONFIG_INVALID', 'needs a runner_tokens section', {
        keyPath: 'session_registry',
      })
    }
    return NO_CREDENTIALS
  }
  const tokens = await setUpRunnerTokens(config.runner_tokens, logger, {
    watch,
    processes: config.workers,
  })
  const source = config.session_registry?.source
  let registry: (LivenessCheck & { close(): void }) | undefined
  try {
    if (source?.kind === 'file') registry = await startFileRegistry(source.path, logger, { watch })
    else if (source?.kind === 'http' && config.session_registry !== undefined) {
      registry = new HttpRegistry(source, config.session_registry, logger)
    }
  } catch (err) {
    tokens.close()
    throw err
  }
  const runnerToken =
    registry === undefined ? tokens.resolver : withLiveness(tokens.resolver, registry)
  return {
    tokens,
    registry,
    // One resolver per credential, under the name its condition kind reads it by.
    deps: { credentials: { [RUNNER_TOKEN_CREDENTIAL.name]: runnerToken } },
    close() {
      tokens.close()
      registry?.close()
    },
  }
}
