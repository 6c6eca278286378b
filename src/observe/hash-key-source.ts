import type { Config } from '../config/schema.js'
import type { Logger } from '../shared/logger.js'
import { readHashKeyFile, SessionHasher } from '../shared/session-hasher.js'
import { type FileWatch, watchFiles } from '../shared/watch-files.js'

type LoggingConfig = Config['logging']

/** Said once at start (and on a reload that drops the file): why hashes stop matching later. */
export const NO_KEY_FILE_MESSAGE =
  'logging.hash_key_file not set: session hashes use a random key made at start; they ' +
  'correlate across workers but not across restarts'

export interface HashKeySource {
  readonly hasher: SessionHasher
  /**
   * Reads the key `next` names (the fallback key without a file) and resolves with the change,
   * not yet applied: a reload applies it together with everything else or not at all. Rejects
   * with HashKeyError naming the file and the problem.
   */
  prepare(next: LoggingConfig): Promise<() => void>
  close(): void
}

/**
 * The log hash key: read from `logging.hash_key_file` (shared by every worker, so hashes
 * correlate across workers and restarts) and re-read when that file's content changes, or
 * `fallback` (made once per start by the primary and handed to every worker) without one. A file
 * that turns bad keeps the last good key. Rejects when the configured file is unusable.
 */
export async function startHashKeySource(
  logging: LoggingConfig,
  fallback: Uint8Array,
  logger: Logger,
  { watch = true } = {},
): Promise<HashKeySource> {
  let file = logging.hash_key_file
  const hasher = new SessionHasher(file === undefined ? fallback : await readHashKeyFile(file))
  // Keys the watcher applied: a config reload that read the same file before the watcher's
  // newer read must not put the older key back.
  let watcherApplied = 0
  const reloadFrom = async (watched: string) => {
    try {
      const key = await readHashKeyFile(watched)
      if (file !== watched) return // a reload moved to another file meanwhile
      hasher.setKey(key)
      watcherApplied++
      logger.info({ file: watched }, 'log hash key reloaded: session hashes change from here on')
    } catch (err) {
      // The message names the file and the problem, never key material.
      logger.error(
        { err: (err as Error).message },
        'log hash key not reloaded; keeping the last good key',
      )
    }
  }
  const watchFor = (f: string | undefined): FileWatch | undefined =>
    watch && f !== undefined ? watchFiles([f], () => void reloadFrom(f)) : undefined
  let watcher = watchFor(file)
  return {
    hasher,
    async prepare(next) {
      const nextFile = next.hash_key_file
      const applied = watcherApplied
      const key = nextFile === undefined ? fallback : await readHashKeyFile(nextFile)
      return () => {
        if (nextFile !== file) {
          watcher?.close()
          file = nextFile
          watcher = watchFor(file)
          if (file === undefined) logger.info(NO_KEY_FILE_MESSAGE)
        } else if (watcherApplied !== applied) {
          return // the watcher has applied a newer read of this same file
        }
        hasher.setKey(key)
      }
    },
    close() {
      watcher?.close()
      watcher = undefined
    },
  }
}
