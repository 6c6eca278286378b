// The request method, checked before any rule sees it.
//
// RFC 9110 §9.1: "The method token is case-sensitive". Upstreams disagree anyway: some fold case
// (`delete` runs the DELETE handler), some trim (`"DELETE "`), others answer 405. A rule naming
// DELETE must not be stepped around by a spelling one of them accepts, so any method that is not
// an upper-case token is refused rather than case-folded: folding would still leave the servers
// that treat `Delete` as an unknown method and those that treat it as DELETE judged alike.

/** Longer methods are refused: the longest registered method (UPDATEREDIRECTREF) has 17. */
export const MAX_METHOD_LENGTH = 32

const TCHAR_UPPER = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR_UPPER[c.charCodeAt(0)] = 1
}

/**
 * True when `method` may reach rule matching: 1 to MAX_METHOD_LENGTH characters of RFC 9110
 * §5.6.2 tchar without lower-case letters.
 */
export function isRequestMethod(method: string): boolean {
  const n = method.length
  if (n === 0 || n > MAX_METHOD_LENGTH) return false
  for (let i = 0; i < n; i++) {
    const c = method.charCodeAt(i)
    if (c >= 128 || TCHAR_UPPER[c] === 0) return false
  }
  return true
}
