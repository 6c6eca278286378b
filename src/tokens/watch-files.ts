import { type FSWatcher, watch } from 'node:fs'
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface FileWatch {
  close(): void
}

/**
 * Calls `onChange` (debounced) when any of `files` may have changed. Watches the directories,
 * not the files: a file replaced by rename (Kubernetes secret volumes swap a `..data` symlink,
 * tools write-then-rename) stops producing events on its old inode. A poll of mtimes backs up
 * fs.watch, which can miss events on some file systems.
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  { debounceMs = 200, pollMs = 10_000 } = {},
): FileWatch {
  let timer: NodeJS.Timeout | undefined
  const fire = () => {
    if (timer) clearTimeout(timer)
    timer = setTimeout(onChange, debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = []
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, fire)
      w.on('error', () => {})
      watchers.push(w)
    } catch {
      // the poll still covers this directory
    }
  }
  const seen = new Map<string, number>()
  const poll = setInterval(async () => {
    for (const f of files) {
      const m = await stat(f).then(
        (s) => s.mtimeMs + s.ino,
        () => -1,
      )
      if (seen.has(f) && seen.get(f) !== m) fire()
      seen.set(f, m)
    }
  }, pollMs)
  poll.unref()
  return {
    close() {
      clearInterval(poll)
      if (timer) clearTimeout(timer)
      for (const w of watchers) w.close()
    },
  }
}
