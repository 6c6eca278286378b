// Reloads the serving pair and bundles when spiffe-helper / cert-manager rewrite them, through the
// shared file watcher (directories watched for renames, events filtered by name, unchanged
// content ignored, a poll as backstop). A reload is accepted only when cert and key match and
// every bundle parses, and when the rotation callback applies it without throwing: a half-written
// or mismatched set, or one the listener refuses, never replaces the working one.
import { watchFiles } from '../shared/watch-files.js'
import { loadServingTls, type ServingTls, type TlsFilesConfig } from './serving-tls.js'

export interface TlsWatcher {
  current(): ServingTls
  /** Rotations applied (ok) and refused (failed, the working pair kept), since start. */
  reloads(): { ok: number; failed: number }
  close(): void
}

export function watchServingTls(
  cfg: TlsFilesConfig,
  onRotate: (next: ServingTls) => void,
  onError: (err: unknown) => void,
  { debounceMs = 150, pollMs = 5000 } = {},
): TlsWatcher {
  let current = loadServingTls(cfg)
  // A refused set (e.g. a certificate not valid yet) is retried on every poll until one loads,
  // even when no file changes again.
  let failing = false
  const counts = { ok: 0, failed: 0 }
  // A refusal is counted per change of the files, not per retry poll of the same refused set.
  const refuse = (err: unknown, retry: boolean): void => {
    failing = true
    if (!retry) counts.failed++
    onError(err) // keep serving the working pair; a later change or poll retries
  }
  const reload = (retry = false): void => {
    let next: ServingTls
    try {
      next = loadServingTls(cfg)
    } catch (err) {
      refuse(err, retry)
      return
    }
    failing = false
    if (
      next.cert.equals(current.cert) &&
      next.key.equals(current.key) &&
      next.ca.equals(current.ca)
    ) {
      return
    }
    const working = current
    current = next
    try {
      onRotate(next)
    } catch (err) {
      // The listener did not take the set: the working pair (and its peer policy) stays.
      current = working
      refuse(err, retry)
      return
    }
    counts.ok++
  }
  const files = [cfg.cert_file, cfg.key_file, ...Object.values(cfg.bundles)]
  const watch = watchFiles(files, () => reload(), {
    debounceMs,
    pollMs,
    onError: (err) => refuse(err, false),
  })
  const retry = setInterval(() => {
    if (failing) reload(true)
  }, pollMs)
  retry.unref()
  return {
    current: () => current,
    reloads: () => ({ ...counts }),
    close() {
      watch.close()
      clearInterval(retry)
    },
  }
}
