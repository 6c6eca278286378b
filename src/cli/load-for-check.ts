import { PolicyCompileError } from '../authz/compile-policy.js'
import { buildCredentials, type Credentials } from '../build-credentials.js'
import { buildSnapshot } from '../build-snapshot.js'
import { ConfigError, type ConfigProblem } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import type { Config } from '../config/schema.js'
import type { Snapshot } from '../extproc/snapshot.js'
import { createLogger } from '../observe/logger.js'
import { HashKeyError, readHashKeyFile } from '../observe/session-hasher.js'
import { startTlsSource } from '../pki/tls-source.js'
import type { RunnerTokens } from '../tokens/runner-tokens.js'

export interface LoadedForCheck {
  readonly config: Config
  readonly snapshot: Snapshot
  readonly tokens: RunnerTokens | undefined
  readonly credentials: Credentials | undefined
  readonly problems: readonly ConfigProblem[]
}

/**
 * Loads a config exactly as `serve` does — validation, key files, certificate files, policy
 * compilation — without binding anything. File problems are reported with their key path.
 */
export async function loadForCheck(file: string): Promise<LoadedForCheck> {
  const config = await loadConfigFile(file) // ConfigError on structure
  const problems: ConfigProblem[] = []
  let credentials: Credentials | undefined
  try {
    credentials = await buildCredentials(config, createLogger('silent'), { watch: false })
  } catch (err) {
    const message = (err as Error).message
    const registryFile = config.session_registry?.source
    const path =
      registryFile?.kind === 'file' && message.startsWith(registryFile.path)
        ? 'session_registry.source.path'
        : 'runner_tokens.private_keys'
    problems.push({ path, message })
  }
  const hashKeyFile = config.logging.hash_key_file
  if (hashKeyFile !== undefined) {
    try {
      await readHashKeyFile(hashKeyFile) // read and checked as serve would; the key is dropped
    } catch (err) {
      const message = err instanceof HashKeyError ? err.problem : (err as Error).message
      problems.push({ path: 'logging.hash_key_file', message: `${hashKeyFile} ${message}` })
    }
  }
  if (config.tls !== undefined) {
    try {
      ;(await startTlsSource(config.tls, () => {}, createLogger('silent'))).close()
    } catch (err) {
      problems.push({ path: 'tls', message: (err as Error).message })
    }
  }
  if (problems.length > 0) {
    credentials?.close()
    throw new ConfigError(file, problems)
  }
  // The one compile path serve and a reload use: with the credentials this config builds.
  let snapshot: Snapshot
  try {
    snapshot = buildSnapshot(config, credentials)
  } catch (err) {
    credentials?.close()
    if (err instanceof PolicyCompileError) {
      throw new ConfigError(file, [{ path: err.path, message: err.problem }])
    }
    throw err
  }
  return { config, snapshot, tokens: credentials?.tokens, credentials, problems }
}
