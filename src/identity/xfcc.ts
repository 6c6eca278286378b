// Envoy's x-forwarded-client-cert (docs: config/http/http_conn_man/headers#x-forwarded-client-cert):
// "a comma (",") separated string. Each substring is an XFCC element, which holds information
// added by a single proxy" — APPEND_FORWARD appends, so the newest element is LAST. "Each XFCC
// element is a semicolon (";") separated string. Each substring is a key-value pair, grouped
// together by an equals ("=") sign. The keys are case-insensitive ... If ",", ";" or "=" appear
// in a value, the value should be double-quoted. Double-quotes in the value should be replaced by
// backslash-double-quote (\")." URI and DNS repeat once per SAN; Envoy writes a bare "URI=" when
// the certificate has none.
//
// Strictness: anything outside that grammar makes the whole header invalid (no identity), because
// a lenient reading of one part could shift where another element starts. Runs per request: no
// exceptions, no regexes, and quoted values are copied only when they contain an escape.

/**
 * Longest header value parsed. Envoy's default max_request_headers_kb is 60 KiB for all headers
 * together; identity needs only By/Hash/Subject/URI/DNS, a few hundred bytes per element, while
 * Cert or Chain (URL-encoded PEM) run to kilobytes each. 16 KiB fits a few hops with Cert and
 * bounds the work a hostile header can cause. Header values reach us as latin1 (one code unit per
 * byte), so the string length is the byte length.
 */
export const MAX_XFCC_BYTES = 16_384
/** One element per proxy hop; no real chain is anywhere near this long. */
export const MAX_XFCC_ELEMENTS = 64

interface XfccElement {
  /** Keys lower-cased, in header order, duplicates kept; values unquoted and unescaped. */
  readonly pairs: ReadonlyArray<readonly [key: string, value: string]>
}

const TAB = 0x09
const SPACE = 0x20
const QUOTE = 0x22
const COMMA = 0x2c
const SEMI = 0x3b
const EQ = 0x3d
const BACKSLASH = 0x5c

// Keys are Envoy's fixed names (By, Hash, Cert, Chain, Subject, URI, DNS); accept token-like
// names so an unknown future key does not void the header, but nothing that could hide a separator.
function isKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x5f
  )
}

// Envoy writes XFCC in printable ASCII: URI/DNS SANs are IA5String, Hash is hex, Cert/Chain are
// URL-encoded, and the Subject is RFC 2253 text with non-ASCII and control bytes \XX-escaped.
// Controls, DEL and bytes >= 0x80 therefore only come from someone else; refuse them.
function isValueChar(c: number): boolean {
  return (c >= SPACE && c < 0x7f) || c === TAB
}

function skipOws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c !== SPACE && c !== TAB) break
    i++
  }
  return i
}

/**
 * Parses the whole header into its elements, oldest first. Undefined if the value is empty, too
 * long, has more than MAX_XFCC_ELEMENTS elements, or is malformed anywhere (unterminated quote,
 * a pair without "=", an empty key or element, anything but ";" or "," after a value, a trailing
 * separator, controls or non-ASCII bytes). Optional whitespace is allowed around "," and ";" only.
 */
export function parseXfcc(value: string): XfccElement[] | undefined {
  const n = value.length
  if (n === 0 || n > MAX_XFCC_BYTES) return undefined
  const elements: XfccElement[] = []
  let pairs: Array<readonly [string, string]> = []
  let i = skipOws(value, 0)
  for (;;) {
    // key "="
    const keyStart = i
    while (i < n && isKeyChar(value.charCodeAt(i))) i++
    if (i === keyStart || i >= n || value.charCodeAt(i) !== EQ) return undefined
    const key = value.slice(keyStart, i).toLowerCase()
    i++

    // value: quoted-string, or a run of characters other than , ; " and whitespace
    let v: string
    if (i < n && value.charCodeAt(i) === QUOTE) {
      i++
      let runStart = i
      let unescaped: string | undefined // built only once an escape is seen
      for (;;) {
        if (i >= n) return undefined // unterminated quote
        const c = value.charCodeAt(i)
        if (c === QUOTE) break
        if (!isValueChar(c)) return undefined
        if (c === BACKSLASH && i + 1 < n) {
          const next = value.charCodeAt(i + 1)
          if (next === QUOTE || next === BACKSLASH) {
            // \" and \\ stand for the second character.
            unescaped = (unescaped ?? '') + value.slice(runStart, i)
            runStart = i + 1
            i += 2
            continue
          }
          // Any other backslash is kept as is: the Subject is RFC 2253 text whose own escapes
          // (\, \+ \; \< \> \XX) Envoy passes through unchanged inside the quotes.
        }
        i++
      }
      v = unescaped === undefined ? value.slice(runStart, i) : unescaped + value.slice(runStart, i)
      i++ // closing quote
    } else {
      const start = i
      while (i < n) {
        const c = value.charCodeAt(i)
        if (c === SEMI || c === COMMA || c === SPACE || c === TAB) break
        if (c === QUOTE || !isValueChar(c)) return undefined
        i++
      }
      v = value.slice(start, i) // may be '' ("URI=")
    }
    pairs.push([key, v])

    // separator: only ";" or "," may follow a value (so nothing after a closing quote)
    i = skipOws(value, i)
    if (i >= n) break
    const sep = value.charCodeAt(i)
    if (sep === COMMA) {
      elements.push({ pairs })
      if (elements.length >= MAX_XFCC_ELEMENTS) return undefined // another element follows
      pairs = []
    } else if (sep !== SEMI) {
      return undefined
    }
    i = skipOws(value, i + 1)
    if (i >= n) return undefined // trailing separator
  }
  elements.push({ pairs })
  return elements
}

/**
 * The peer's URI SAN from a header Envoy wrote with SANITIZE_SET: exactly one element, the one it
 * set. More than one element means no identity: Envoy writes `URI=` unquoted, so a URI SAN
 * holding a comma splices a second element into the header (`URI=spiffe://td/a,URI=spiffe://td/b`
 * reads as two), and with SANITIZE_SET only one element can be genuine. An X.509-SVID has exactly
 * one URI SAN (X509-SVID.md §2), so none or several give undefined, as does a malformed header.
 * The caller must still parse the result as a SPIFFE ID.
 */
export function xfccPeerUri(value: string): string | undefined {
  const elements = parseXfcc(value)
  if (elements === undefined || elements.length !== 1) return undefined
  const only = elements[0]
  if (only === undefined) return undefined
  let uri: string | undefined
  for (const [key, v] of only.pairs) {
    if (key !== 'uri' || v === '') continue
    if (uri !== undefined) return undefined
    uri = v
  }
  return uri
}
