// Reloads the serving pair and bundles when spiffe-helper / cert-manager rewrite them. Watches the
// DIRECTORIES (a file replaced by rename stops producing events on its old inode), debounces, and
// polls as a backstop. A reload is accepted only when cert and key match and every bundle parses:
// a half-written or mismatched set never replaces the working one.
import { type FSWatcher, watch } from 'node:fs'
import { dirname } from 'node:path'
import { loadServingTls, type ServingTls, type TlsFilesConfig } from './serving-tls.js'

export interface TlsWatcher {
  current(): ServingTls
  close(): void
}

export function watchServingTls(
  cfg: TlsFilesConfig,
  onRotate: (next: ServingTls) => void,
  onError: (err: unknown) => void,
  { debounceMs = 150, pollMs = 5000 } = {},
): TlsWatcher {
  let current = loadServingTls(cfg)
  let timer: NodeJS.Timeout | undefined
  const reload = (): void => {
    timer = undefined
    let next: ServingTls
    try {
      next = loadServingTls(cfg)
    } catch (err) {
      onError(err) // keep serving the working pair; a later event or poll retries
      return
    }
    if (
      next.cert.equals(current.cert) &&
      next.key.equals(current.key) &&
      next.ca.equals(current.ca)
    ) {
      return
    }
    current = next
    onRotate(next)
  }
  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(reload, debounceMs)
  }
  const dirs = new Set([cfg.cert_file, cfg.key_file, ...Object.values(cfg.bundles)].map(dirname))
  const watchers: FSWatcher[] = [...dirs].map((d) => watch(d, schedule))
  const poll = setInterval(schedule, pollMs)
  poll.unref()
  return {
    current: () => current,
    close() {
      for (const w of watchers) w.close()
      clearInterval(poll)
      if (timer !== undefined) clearTimeout(timer)
    },
  }
}
