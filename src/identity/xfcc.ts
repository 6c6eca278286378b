// Envoy's x-forwarded-client-cert (config/http/conn_man/headers#x-forwarded-client-cert):
// elements separated by ',' (APPEND_FORWARD appends: newest last), key=value pairs separated by
// ';', keys case-insensitive, values optionally double-quoted with '\"' escapes; inside quotes
// ',', ';' and '=' are literal. URI and DNS repeat once per SAN; a bare "URI=" means none.

/** Envoy's default request header limit is 60 KiB; identity needs far less than Cert/Chain PEMs. */
export const MAX_XFCC_BYTES = 16_384
/** One element per proxy hop; more than this is not a chain anyone runs. */
export const MAX_XFCC_ELEMENTS = 64

export interface XfccElement {
  /** Keys lower-cased, in order, duplicates kept. */
  readonly pairs: ReadonlyArray<readonly [key: string, value: string]>
}

const COMMA = 0x2c
const SEMI = 0x3b
const EQ = 0x3d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** Parses the whole header; undefined if any part is malformed (then it carries no identity). */
export function parseXfcc(value: string): XfccElement[] | undefined {
  if (value.length === 0 || value.length > MAX_XFCC_BYTES) return undefined
  const elements: XfccElement[] = []
  let pairs: Array<readonly [string, string]> = []
  let i = 0
  const n = value.length
  for (;;) {
    // key
    const keyStart = i
    while (i < n) {
      const c = value.charCodeAt(i)
      if (c === EQ || c === SEMI || c === COMMA || c === QUOTE) break
      i++
    }
    const key = value.slice(keyStart, i).trim().toLowerCase()
    if (key === '' || i >= n || value.charCodeAt(i) !== EQ) return undefined
    i++ // '='
    // value
    let v: string
    if (i < n && value.charCodeAt(i) === QUOTE) {
      i++
      let out = ''
      let closed = false
      while (i < n) {
        const c = value.charCodeAt(i)
        if (c === BACKSLASH) {
          if (i + 1 >= n) return undefined
          const next = value.charCodeAt(i + 1)
          if (next !== QUOTE && next !== BACKSLASH) return undefined
          out += value[i + 1]
          i += 2
        } else if (c === QUOTE) {
          closed = true
          i++
          break
        } else {
          out += value[i]
          i++
        }
      }
      if (!closed) return undefined
      v = out
    } else {
      const start = i
      while (i < n) {
        const c = value.charCodeAt(i)
        if (c === SEMI || c === COMMA) break
        if (c === QUOTE) return undefined
        i++
      }
      v = value.slice(start, i).trim()
    }
    pairs.push([key, v])
    // separator
    while (i < n && value.charCodeAt(i) === 0x20) i++
    if (i >= n) break
    const sep = value.charCodeAt(i)
    i++
    if (sep === COMMA) {
      elements.push({ pairs })
      if (elements.length >= MAX_XFCC_ELEMENTS) return undefined
      pairs = []
    } else if (sep !== SEMI) {
      return undefined // garbage after a closing quote
    }
    while (i < n && value.charCodeAt(i) === 0x20) i++
    if (i >= n) return undefined // trailing separator
  }
  elements.push({ pairs })
  return elements
}

/**
 * The peer URI SAN Envoy recorded in the newest (last) element. An X.509-SVID has exactly one
 * URI SAN, so none or several give undefined.
 */
export function xfccPeerUri(value: string): string | undefined {
  const elements = parseXfcc(value)
  const last = elements?.[elements.length - 1]
  if (last === undefined) return undefined
  let uri: string | undefined
  for (const [key, v] of last.pairs) {
    if (key !== 'uri' || v === '') continue
    if (uri !== undefined) return undefined
    uri = v
  }
  return uri
}
