// Parses the watched live-session file: one session id per line, `#` starts a comment, blank
// lines ignored. A file that breaks any rule is rejected whole, so a half-written or corrupt file
// never replaces the last good set (the caller keeps the previous set on failure).

/** 1 MiB of ids is far beyond any real runner fleet; bound the input before splitting it. */
export const MAX_LIVE_FILE_BYTES = 1024 * 1024
/** Session ids are short opaque strings; anything longer is a broken file, not an id. */
const MAX_ID_LENGTH = 256
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/

type LiveIdsResult =
  | { readonly ok: true; readonly ids: ReadonlySet<string> }
  | { readonly ok: false; readonly error: string }

export function parseLiveIds(text: string): LiveIdsResult {
  if (text.length > MAX_LIVE_FILE_BYTES) {
    return { ok: false, error: `file larger than ${MAX_LIVE_FILE_BYTES} bytes` }
  }
  const ids = new Set<string>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const hash = (lines[i] as string).indexOf('#')
    const id = (hash === -1 ? (lines[i] as string) : (lines[i] as string).slice(0, hash)).trim()
    if (id === '') continue
    if (id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) {
      return { ok: false, error: `line ${i + 1}: not a session id` }
    }
    ids.add(id)
  }
  return { ok: true, ids }
}
