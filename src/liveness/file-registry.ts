import { readFile } from 'node:fs/promises'
import { AuthzError, errnoCode, errnoHint } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { type FileWatch, watchFiles } from '../shared/watch-files.js'
import { parseLiveIds } from './parse-live-ids.js'
import type { LivenessCheck, LivenessVerdict } from './with-liveness.js'

interface FileRegistry extends LivenessCheck {
  readonly size: number
  readonly loadedAt: number
  close(): void
}

/** Where the file is named in the config. */
const KEY_PATH = 'session_registry.source.path'

async function load(path: string): Promise<ReadonlySet<string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new AuthzError('ERR_REGISTRY_UNREADABLE', `cannot read (${errnoCode(err) ?? 'error'})`, {
      file: path,
      keyPath: KEY_PATH,
      hint: errnoHint(errnoCode(err)),
    })
  }
  const parsed = parseLiveIds(text)
  if (!parsed.ok) {
    throw new AuthzError('ERR_REGISTRY_INVALID', parsed.error, {
      file: path,
      keyPath: KEY_PATH,
      hint: 'one session id per line, # starts a comment',
    })
  }
  return parsed.ids
}

/**
 * Live sessions from a watched file (one id per line). The whole set is in memory, so every
 * answer is synchronous. A broken or half-written file never replaces the last good set; the
 * first load must succeed or the service does not start.
 */
export async function startFileRegistry(
  path: string,
  logger: Logger,
  { watch: watching = true } = {},
): Promise<FileRegistry> {
  let live = await load(path)
  let loadedAt = Date.now()
  logger.info({ path, sessions: live.size }, 'session registry file loaded')
  const reload = () => {
    load(path).then(
      (next) => {
        live = next
        loadedAt = Date.now()
        logger.info({ path, sessions: next.size }, 'session registry file reloaded')
      },
      (err: unknown) =>
        logger.error(
          { err: (err as Error).message },
          'session registry file not reloaded; keeping the last good set',
        ),
    )
  }
  const watch: FileWatch | undefined = watching ? watchFiles([path], reload) : undefined
  return {
    check: (sessionId): LivenessVerdict => (live.has(sessionId) ? 'live' : 'gone'),
    get size() {
      return live.size
    },
    get loadedAt() {
      return loadedAt
    },
    close: () => watch?.close(),
  }
}
