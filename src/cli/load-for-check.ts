import { buildCredentials, type Credentials } from '../app/build-credentials.js'
import { buildSnapshot } from '../app/build-snapshot.js'
import { PolicyCompileError } from '../authz/compile-policy.js'
import { ConfigError, type ConfigProblem } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import type { Config } from '../config/schema.js'
import type { Snapshot } from '../extproc/snapshot.js'
import { startTlsSource } from '../pki/tls-source.js'
import { AuthzError, type ErrorCode } from '../shared/errors.js'
import { createLogger } from '../shared/logger.js'
import { HashKeyError, readHashKeyFile } from '../shared/session-hasher.js'
import { KeyLoadError } from '../tokens/keyring.js'
import type { RunnerTokens } from '../tokens/runner-tokens.js'

export interface LoadedForCheck {
  readonly config: Config
  readonly snapshot: Snapshot
  readonly tokens: RunnerTokens | undefined
  readonly credentials: Credentials | undefined
  readonly problems: readonly ConfigProblem[]
}

/**
 * How long `config check` waits for the Workload API to answer: long enough for a local agent,
 * short enough for a check (serve waits tls.workload_api.start_timeout_seconds).
 */
const CHECK_WORKLOAD_API_TIMEOUT_SECONDS = 5

type TlsConfig = NonNullable<Config['tls']>

function withShortWait(tls: TlsConfig): TlsConfig {
  const api = tls.workload_api
  if (api === undefined) return tls
  const seconds = Math.min(api.start_timeout_seconds, CHECK_WORKLOAD_API_TIMEOUT_SECONDS)
  return { ...tls, workload_api: { ...api, start_timeout_seconds: seconds } }
}

/** The key path a failure names: carried by the error when it knows it, else `fallback`. */
export function problemOf(err: unknown, fallback: string): ConfigProblem {
  if (err instanceof AuthzError) {
    // The key path goes in `path`; the message keeps the file and what to do.
    const message = [err.file, err.problem].filter((p) => p !== undefined).join(': ')
    const path =
      err instanceof KeyLoadError && err.index !== undefined
        ? `runner_tokens.private_keys[${err.index}]`
        : (err.keyPath ?? fallback)
    return { path, message: err.hint === undefined ? message : `${message} (${err.hint})` }
  }
  return { path: fallback, message: err instanceof Error ? err.message : String(err) }
}

/**
 * A start that failed on a file the config names (a key, a certificate, the registry file) as
 * the config's problem: the config file, the key path, exit 1. Other failures pass unchanged.
 */
export function asConfigError(configFile: string, err: unknown): unknown {
  const fileProblem = err instanceof AuthzError && CONFIG_PROBLEM_CODES.has(err.code)
  return fileProblem ? new ConfigError(configFile, [problemOf(err, 'runner_tokens')]) : err
}

/**
 * Problems of the config itself or of a file (or socket) it names; a port in use or an agent
 * down are not.
 */
const CONFIG_PROBLEM_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_CONFIG_INVALID',
  KeyLoadError.code,
  HashKeyError.code,
  'ERR_TLS_FILE_INVALID',
  'ERR_REGISTRY_UNREADABLE',
  'ERR_REGISTRY_INVALID',
  'ERR_WORKLOAD_API_SOCKET',
])

/**
 * Runs the checks `serve` runs at start — the schema (listen addresses included), key files,
 * the session registry file, certificate files or the Workload API (a short wait), the policy
 * compiled with its credentials — without binding anything. Each problem names its key path.
 */
export async function loadForCheck(file: string): Promise<LoadedForCheck> {
  const config = await loadConfigFile(file) // ConfigError on structure
  const problems: ConfigProblem[] = []
  let credentials: Credentials | undefined
  try {
    credentials = await buildCredentials(config, createLogger('silent'), { watch: false })
  } catch (err) {
    problems.push(problemOf(err, 'runner_tokens'))
  }
  const hashKeyFile = config.logging.hash_key_file
  if (hashKeyFile !== undefined) {
    try {
      await readHashKeyFile(hashKeyFile) // read and checked as serve would; the key is dropped
    } catch (err) {
      problems.push(problemOf(err, HashKeyError.keyPath))
    }
  }
  if (config.tls !== undefined) {
    try {
      ;(await startTlsSource(withShortWait(config.tls), () => {}, createLogger('silent'))).close()
    } catch (err) {
      problems.push(problemOf(err, config.tls.workload_api ? 'tls.workload_api' : 'tls'))
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
      throw new ConfigError(file, [{ path: err.keyPath, message: err.problem }])
    }
    throw err
  }
  return { config, snapshot, tokens: credentials?.tokens, credentials, problems }
}
