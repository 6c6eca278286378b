import type { SnapshotExtensions } from './build-snapshot.js'
import type { Config } from './config/schema.js'
import { startFileRegistry } from './liveness/file-registry.js'
import { HttpRegistry } from './liveness/http-registry.js'
import { type LivenessCheck, withLiveness } from './liveness/with-liveness.js'
import type { Logger } from './observe/logger.js'
import { type RunnerTokens, setUpRunnerTokens } from './tokens/runner-tokens.js'

export interface Credentials {
  readonly tokens: RunnerTokens | undefined
  readonly registry: (LivenessCheck & { close(): void }) | undefined
  readonly extensions: SnapshotExtensions | undefined
  close(): void
}

/**
 * Runner tokens (keys parsed once, watched) and, when configured, the session registry that a
 * valid token's session must also be live in. Shared by `serve`, `config check` and `policy test`.
 */
export async function buildCredentials(
  config: Config,
  logger: Logger,
  { watch = true } = {},
): Promise<Credentials> {
  if (config.runner_tokens === undefined) {
    return { tokens: undefined, registry: undefined, extensions: undefined, close() {} }
  }
  const tokens = await setUpRunnerTokens(config.runner_tokens, logger, {
    watch,
    processes: config.workers,
  })
  const source = config.session_registry?.source
  let registry: (LivenessCheck & { close(): void }) | undefined
  try {
    if (source?.kind === 'file') registry = await startFileRegistry(source.path, logger)
    else if (source?.kind === 'http' && config.session_registry !== undefined) {
      registry = new HttpRegistry(source, config.session_registry, logger)
    }
  } catch (err) {
    tokens.close()
    throw err
  }
  const resolver =
    registry === undefined ? tokens.resolver : withLiveness(tokens.resolver, registry)
  return {
    tokens,
    registry,
    extensions: { ...tokens.extensions, deps: { runnerTokens: resolver } },
    close() {
      tokens.close()
      registry?.close()
    },
  }
}
