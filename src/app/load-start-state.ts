import type { Config } from '../config/schema.js'
import type { Snapshot } from '../extproc/snapshot.js'
import {
  type HashKeySource,
  NO_KEY_FILE_MESSAGE,
  startHashKeySource,
} from '../observe/hash-key-source.js'
import type { Logger } from '../shared/logger.js'
import { randomHashKey } from '../shared/session-hasher.js'
import { buildCredentials } from './build-credentials.js'
import { buildSnapshot } from './build-snapshot.js'
import { CredentialsInForce } from './credentials-in-force.js'

/** What a start loads before it opens any socket. */
export interface StartState {
  readonly hashKeys: HashKeySource
  readonly credentials: CredentialsInForce
  readonly snapshot: Snapshot
}

/**
 * The log hash key, the credentials and the first decision snapshot of `config`. Keys are parsed
 * once here, before the first stream; decisions never read the file system. Rejects, with
 * whatever it opened closed, when any part cannot be loaded.
 */
export async function loadStartState(
  config: Config,
  logger: Logger,
  fallbackHashKey: Uint8Array | undefined,
): Promise<StartState> {
  if (fallbackHashKey === undefined && config.logging.hash_key_file === undefined) {
    logger.info(NO_KEY_FILE_MESSAGE)
  }
  const hashKeys = await startHashKeySource(
    config.logging,
    fallbackHashKey ?? randomHashKey(),
    logger,
  )
  let credentials: CredentialsInForce
  try {
    credentials = new CredentialsInForce(await buildCredentials(config, logger))
  } catch (err) {
    hashKeys.close()
    throw err
  }
  try {
    return {
      hashKeys,
      credentials,
      snapshot: buildSnapshot(config, credentials.current, hashKeys.hasher),
    }
  } catch (err) {
    credentials.close()
    hashKeys.close()
    throw err
  }
}
