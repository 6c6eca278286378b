import { createHash } from 'node:crypto'
import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'

export interface FileWatch {
  close(): void
  /** Resolves once no content check is scheduled or running (tests wait on it). */
  idle(): Promise<void>
}

interface WatchFilesOptions {
  /** Quiet time after the last relevant event before the files are read. */
  readonly debounceMs?: number
  /** Backstop poll of size, mtime and inode (fs.watch can miss events on some file systems). */
  readonly pollMs?: number
  /**
   * Receives what `onChange` throws; the watcher keeps watching (the next change calls `onChange`
   * again). Default: dropped, so a throw never becomes an unhandled rejection.
   */
  readonly onError?: (err: unknown) => void
}

/**
 * Kubernetes' AtomicWriter (ConfigMap and Secret volumes) writes a `..<timestamp>` directory,
 * points a `..data_tmp` symlink at it and renames that over `..data`; the visible file is a
 * symlink into `..data`, so it never changes name itself. Names starting with `..` are its.
 */
function isAtomicWriterName(name: string): boolean {
  return name.startsWith('..')
}

/** The content's SHA-256, or a marker for a file that cannot be read (missing, a directory). */
function digestOf(content: Buffer | undefined): string {
  return content === undefined ? 'unreadable' : createHash('sha256').update(content).digest('hex')
}

function readNow(file: string): string {
  try {
    return digestOf(readFileSync(file))
  } catch {
    return digestOf(undefined)
  }
}

/**
 * Calls `onChange` (debounced) when the content of any of `files` has changed. Watches the
 * directories, since a file replaced by rename (editors, `sed -i`, deploy tools; Kubernetes swaps
 * a `..data` symlink) stops producing events on its old inode, but only events naming a watched
 * file (or Kubernetes' `..` names) count: a log file written beside the config is no reason to
 * read it. Then the content decides: a file rewritten with the same bytes, or touched, is no
 * change. The digest of what was read last is kept, never the content (key files are watched
 * too). A poll of size, mtime and inode backs up fs.watch. SIGHUP (config) still reloads
 * unconditionally.
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  { debounceMs = 200, pollMs = 10_000, onError = () => {} }: WatchFilesOptions = {},
): FileWatch {
  // Baseline: what the caller has just loaded (read now, before any event can arrive).
  const digests = new Map(files.map((f) => [f, readNow(f)]))
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let closed = false
  let waiters: Array<() => void> = []

  const settle = () => {
    if (timer !== undefined || running !== undefined) return
    const w = waiters
    waiters = []
    for (const resolve of w) resolve()
  }
  const check = async (): Promise<void> => {
    let changed = false
    for (const f of files) {
      const digest = digestOf(await readFile(f).catch(() => undefined))
      if (digests.get(f) !== digest) {
        digests.set(f, digest)
        changed = true
      }
    }
    if (!changed || closed) return
    try {
      onChange()
    } catch (err) {
      try {
        onError(err)
      } catch {
        // a failing error handler must not stop the watcher either
      }
    }
  }
  const run = () => {
    timer = undefined
    if (running !== undefined) {
      again = true // an event during a check: read once more when it ends
      return
    }
    running = check().finally(() => {
      running = undefined
      if (again && !closed) {
        again = false
        schedule()
      }
      settle()
    })
  }
  const schedule = () => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(run, debounceMs)
    timer.unref()
  }

  const names = new Map<string, Set<string>>()
  for (const f of files) {
    const dir = dirname(f)
    names.set(dir, (names.get(dir) ?? new Set()).add(basename(f)))
  }
  const watchers: FSWatcher[] = []
  for (const [dir, watched] of names) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms give no name: then any event may be ours.
        if (name === null || watched.has(name) || isAtomicWriterName(name)) schedule()
      })
      w.on('error', () => {})
      watchers.push(w)
    } catch {
      // the poll still covers this directory
    }
  }
  const seen = new Map<string, string>()
  const poll = setInterval(async () => {
    for (const f of files) {
      const sig = await stat(f).then(
        (s) => `${s.size}:${s.mtimeMs}:${s.ino}`,
        () => 'missing',
      )
      if (seen.has(f) && seen.get(f) !== sig) schedule()
      seen.set(f, sig)
    }
  }, pollMs)
  poll.unref()
  return {
    close() {
      closed = true
      clearInterval(poll)
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      for (const w of watchers) w.close()
      settle()
    },
    idle() {
      if (timer === undefined && running === undefined) return Promise.resolve()
      return new Promise<void>((resolve) => waiters.push(resolve))
    },
  }
}
