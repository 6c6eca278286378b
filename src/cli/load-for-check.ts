import { buildSnapshot } from '../build-snapshot.js'
import { ConfigError, type ConfigProblem } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import type { Config } from '../config/schema.js'
import type { Snapshot } from '../extproc/snapshot.js'
import { createLogger } from '../observe/logger.js'
import { loadServingTls } from '../pki/serving-tls.js'
import { type RunnerTokens, setUpRunnerTokens } from '../tokens/runner-tokens.js'

export interface LoadedForCheck {
  readonly config: Config
  readonly snapshot: Snapshot
  readonly tokens: RunnerTokens | undefined
  readonly problems: readonly ConfigProblem[]
}

/**
 * Loads a config exactly as `serve` does — validation, key files, certificate files, policy
 * compilation — without binding anything. File problems are reported with their key path.
 */
export async function loadForCheck(file: string): Promise<LoadedForCheck> {
  const config = await loadConfigFile(file) // ConfigError on structure
  const problems: ConfigProblem[] = []
  let tokens: RunnerTokens | undefined
  if (config.runner_tokens !== undefined) {
    try {
      tokens = await setUpRunnerTokens(config.runner_tokens, createLogger('silent'), {
        watch: false,
      })
    } catch (err) {
      problems.push({ path: 'runner_tokens.private_keys', message: (err as Error).message })
    }
  }
  if (config.tls !== undefined) {
    try {
      loadServingTls(config.tls)
    } catch (err) {
      problems.push({ path: 'tls', message: (err as Error).message })
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems)
  const snapshot = buildSnapshot(config, tokens?.extensions)
  return { config, snapshot, tokens, problems }
}
