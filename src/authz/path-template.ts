// Path templates for policy rules (`/api/sessions/{session}/**`) and the request-path splitter
// they match against.
//
// The processor must judge the same path the upstream will route on. Envoy's normalize_path and
// merge_slashes may be off, and upstreams disagree on decoding, so every path that two parsers
// could read differently is refused (the caller denies) rather than normalised here: dot segments
// and empty segments, encoded or literal "\" and "/", path parameters (";"), fragments ("#"),
// non-canonical, double or malformed percent-encoding, invalid UTF-8 and code points that NFKC
// turns into ASCII, controls and raw non-ASCII bytes. Rules are first-match, so any of these
// could otherwise steer a request past a strict rule into a lax one. The one thing normalised is
// a single trailing slash, which never counts: `/a/` matches exactly what `/a` matches, so a
// rule on `/a` cannot be stepped around by `/a/` (docs/policy.md).

import { AuthzError } from '../shared/errors.js'
import { encodedUtf8IsSafe } from './encoded-utf8.js'

/**
 * Longer `:path` values are refused before any work. Generous for real routes and far below
 * Envoy's 60 KiB default header limit. Header values reach us as latin1 (one code unit per
 * byte), so the string length is the byte length.
 */
export const MAX_PATH_BYTES = 8192

/** A template that does not follow the grammar; thrown at config load, never per request. */
export class PathTemplateError extends AuthzError {
  static readonly code = 'ERR_PATH_TEMPLATE_INVALID'
  override readonly name = 'PathTemplateError'
  constructor(
    readonly template: string,
    problem: string,
  ) {
    super(PathTemplateError.code, `invalid path template ${JSON.stringify(template)}: ${problem}`)
  }
}

export interface PathTemplate {
  readonly source: string
  /** Parameter names in template order. */
  readonly params: readonly string[]
  /**
   * Matches segments from splitRequestPath. Returns the captured parameters (a frozen
   * null-prototype object, raw segment text, `{}` when the template has none) or undefined.
   */
  match(segments: readonly string[]): Readonly<Record<string, string>> | undefined
}

type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'any' } // *: exactly one non-empty segment
  | { readonly kind: 'rest' } // **: zero or more segments, last only

const SLASH = 0x2f
const PERCENT = 0x25
const SEMI = 0x3b
const BACKSLASH = 0x5c

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

// RFC 3986 §3.3 pchar = unreserved / pct-encoded / sub-delims / ":" / "@", for template literals
// less three things: "*" (the wildcards); pct-encoded (a literal is compared with the raw request
// text, so an encoded literal would match only that one spelling); and ";" (requests containing
// ";" are refused, so such a literal could never match).
function isLiteralChar(c: number): boolean {
  if (isAlpha(c) || isDigit(c)) return true
  switch (c) {
    case 0x2d: // -
    case 0x2e: // .
    case 0x5f: // _
    case 0x7e: // ~
    case 0x21: // !
    case 0x24: // $
    case 0x26: // &
    case 0x27: // '
    case 0x28: // (
    case 0x29: // )
    case 0x2b: // +
    case 0x2c: // ,
    case 0x3d: // =
    case 0x3a: // :
    case 0x40: // @
      return true
    default:
      return false
  }
}

function isParamName(s: string): boolean {
  if (s.length === 0) return false
  const first = s.charCodeAt(0)
  if (!isAlpha(first) && first !== 0x5f) return false
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!isAlpha(c) && !isDigit(c) && c !== 0x5f) return false
  }
  return true
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null))

/**
 * Compiles `/`-separated segments, each a literal, `{name}` (one non-empty segment, captured),
 * `*` (one non-empty segment) or, last only, `**` (zero or more segments). `/` alone matches
 * only `/`. Throws PathTemplateError saying what is wrong and at which segment.
 */
export function compilePathTemplate(template: string): PathTemplate {
  if (template.charCodeAt(0) !== SLASH) {
    throw new PathTemplateError(template, 'must start with "/"')
  }
  const segments: Segment[] = []
  const params: string[] = []
  if (template !== '/') {
    const parts = template.slice(1).split('/')
    let offset = 1
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string
      const where = `segment ${i + 1} (${JSON.stringify(part)} at offset ${offset})`
      offset += part.length + 1
      if (part === '') {
        throw new PathTemplateError(
          template,
          i === parts.length - 1
            ? `${where} is empty: a template may not end with "/" (a trailing slash in a ` +
                'request is not significant; use "/**" for "and below")'
            : `${where} is empty ("//")`,
        )
      }
      if (part === '**') {
        if (i !== parts.length - 1) {
          throw new PathTemplateError(
            template,
            `${where}: "**" is only allowed as the last segment`,
          )
        }
        segments.push({ kind: 'rest' })
      } else if (part === '*') {
        segments.push({ kind: 'any' })
      } else if (part.includes('{') || part.includes('}')) {
        const name = part.slice(1, -1)
        if (!part.startsWith('{') || !part.endsWith('}') || !isParamName(name)) {
          throw new PathTemplateError(
            template,
            `${where}: a parameter is a whole segment "{name}" with name [A-Za-z_][A-Za-z0-9_]*`,
          )
        }
        if (params.includes(name)) {
          throw new PathTemplateError(template, `${where}: duplicate parameter {${name}}`)
        }
        params.push(name)
        segments.push({ kind: 'param', name })
      } else {
        if (part === '.' || part === '..') {
          throw new PathTemplateError(template, `${where} is a dot segment`)
        }
        if (part.includes('*')) {
          throw new PathTemplateError(template, `${where}: "*" and "**" must be whole segments`)
        }
        for (let j = 0; j < part.length; j++) {
          if (!isLiteralChar(part.charCodeAt(j))) {
            throw new PathTemplateError(
              template,
              `${where}: character ${JSON.stringify(part[j])} is not allowed in a literal ` +
                "(RFC 3986 segment characters [A-Za-z0-9._~!$&'()+,=:@-])",
            )
          }
        }
        segments.push({ kind: 'literal', text: part })
      }
    }
  }
  Object.freeze(params)
  const hasRest = segments.at(-1)?.kind === 'rest'
  const fixed = hasRest ? segments.length - 1 : segments.length
  return Object.freeze({
    source: template,
    params,
    match(request: readonly string[]): Readonly<Record<string, string>> | undefined {
      if (hasRest ? request.length < fixed : request.length !== fixed) return undefined
      let captured: Record<string, string> | undefined
      for (let i = 0; i < fixed; i++) {
        const seg = segments[i] as Segment
        const value = request[i] as string
        switch (seg.kind) {
          case 'literal':
            if (value !== seg.text) return undefined
            break
          case 'any':
            if (value === '') return undefined // splitRequestPath yields none; be safe
            break
          case 'param':
            if (value === '') return undefined
            captured ??= Object.create(null) as Record<string, string>
            captured[seg.name] = value
            break
          case 'rest':
            break // never before `fixed`
        }
      }
      // Not frozen: the result is typed read-only and only conditions read it; freezing cost
      // more than the rest of the match.
      return captured ?? NO_PARAMS
    },
  })
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

// Percent-encoded octets refused in a path (RFC 3986 §2.1):
// - unreserved characters (§2.3: equivalent to the plain character, "should not be created by URI
//   producers"), so `%61dmin` cannot dodge a rule on `admin` (this includes %2E, encoded ".");
// - "/" (%2F) and "\" (%5C), which split segments differently once an upstream decodes them;
// - ";" (%3B), for the same reason as a plain ";";
// - controls %00-%1F and %7F (a decoded NUL truncates paths in C upstreams);
// - %C0 and %C1, which only begin overlong UTF-8 such as %C0%AE, an old encoding of ".".
function isRefusedOctet(b: number): boolean {
  if (isAlpha(b) || isDigit(b)) return true
  switch (b) {
    case 0x2d: // -
    case 0x2e: // .
    case 0x5f: // _
    case 0x7e: // ~
    case SLASH:
    case BACKSLASH:
    case SEMI:
    case 0x7f:
    case 0xc0:
    case 0xc1:
      return true
    default:
      return b < 0x20
  }
}

const QUESTION = 0x3f

// Characters taken as they are in a path: printable ASCII but for "%" (checked apart), "?" (the
// query), and what is refused. Controls, space, DEL and raw non-ASCII are not URI characters
// (RFC 3986 §2); upstreams differ on how they decode raw high bytes. "\" is "/" to some servers.
// ";" starts path parameters that Tomcat, Jetty and Spring strip from a segment (`/admin;x`
// routes as `/admin`, `..;` as `..`). "#" starts a fragment, which a client never sends
// (RFC 9110 §4.2.4) and which some servers drop and others route on.
const PLAIN = new Uint8Array(0x80)
for (let c = 0x21; c < 0x7f; c++) PLAIN[c] = 1
for (const c of [PERCENT, QUESTION, BACKSLASH, SEMI, 0x23]) PLAIN[c] = 0

/**
 * The octet `%XX` at `i` encodes, or -1 when it is malformed, refused (isRefusedOctet) or a
 * double-encoded octet (`%25` and two hex digits: an encoded octet to an upstream that decodes
 * twice).
 */
function encodedOctet(rawPath: string, i: number): number {
  const hi = hexValue(rawPath.charCodeAt(i + 1))
  const lo = hexValue(rawPath.charCodeAt(i + 2))
  if (hi < 0 || lo < 0) return -1
  const octet = hi * 16 + lo
  if (isRefusedOctet(octet)) return -1
  if (
    octet === PERCENT &&
    hexValue(rawPath.charCodeAt(i + 3)) >= 0 &&
    hexValue(rawPath.charCodeAt(i + 4)) >= 0
  ) {
    return -1
  }
  return octet
}

/**
 * Splits Envoy's `:path` into segments: `/a/b?q` -> ['a', 'b']; `/` -> []. One trailing slash is
 * dropped (`/a/` -> ['a']: it is not significant for matching). The query is dropped unchecked
 * but for "#". Undefined — the caller denies — for anything unsafe to match: not origin-form
 * (`*`, `http://…`), longer than MAX_PATH_BYTES, `//`, `.` or `..` segments, `\`, `;`, `#`,
 * controls, space, DEL or bytes >= 0x80, a `%` not followed by two hex digits, a refused encoded
 * octet (above), a double-encoded octet (`%25` and two hex digits), or encoded non-ASCII that is
 * not strict UTF-8 or decodes to a code point NFKC turns into ASCII (encodedUtf8IsSafe).
 * Captured values stay percent-encoded as sent.
 */
export function splitRequestPath(rawPath: string): readonly string[] | undefined {
  if (rawPath.length > MAX_PATH_BYTES || rawPath.charCodeAt(0) !== SLASH) return undefined
  let end = rawPath.length
  let nonAscii = false
  // Kept small, with the rare cases in functions of their own: this loop runs on every request.
  for (let i = 1; i < end; i++) {
    const c = rawPath.charCodeAt(i)
    if (c < 0x80 && PLAIN[c] === 1) continue
    if (c === PERCENT) {
      const octet = encodedOctet(rawPath, i)
      if (octet < 0) return undefined
      if (octet >= 0x80) nonAscii = true
      i += 2
    } else if (c === QUESTION && rawPath.indexOf('#', i + 1) === -1) {
      // "?": the query is the upstream's to judge, but a "#" in it could still be read as
      // ending the path by a hop that sees the URI as a whole.
      end = i
    } else {
      return undefined
    }
  }
  if (nonAscii && !encodedUtf8IsSafe(rawPath, end)) return undefined
  if (end === 1) return []
  const parts = rawPath.slice(1, end).split('/')
  const last = parts.length - 1
  for (let i = 0; i <= last; i++) {
    const p = parts[i] as string
    if (p === '.' || p === '..') return undefined // RFC 3986 §5.2.4 would remove them
    if (p === '' && i !== last) return undefined // "//": merged or kept, depending on the server
  }
  if (parts[last] === '') parts.pop() // one trailing slash: not significant
  return parts
}
