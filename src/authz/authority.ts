// The host a request is for, from Envoy's `:authority`, and the host names a policy lists.
//
// RFC 9110 §7.2 and RFC 3986 §3.2: authority = host [ ":" port ]; userinfo is deprecated in
// http(s) URIs and never valid in :authority. Anything two parsers could read as different hosts
// is refused (the caller denies) rather than guessed at: `x@admin.example.org` (userinfo, or a
// host?), `api.example.org:evil` (a "port" that is not one), percent-encoding (WHATWG URL decodes
// it in hosts), sub-delims, and numbers that WHATWG URL parses as IPv4 (`127.1`, `0x7f.0.0.1`).
// What is accepted is normalised the one way every server agrees on: ASCII case folded, one
// trailing dot (the DNS root) removed, an IPv6 address in its RFC 5952 form.

import { isIPv6 } from 'node:net'

/** DNS name limit (RFC 1035 §2.3.4), without the trailing dot. */
const MAX_HOST_LENGTH = 253
const MAX_LABEL_LENGTH = 63
/** Longer `:authority` values are refused at once: a 253-character name, its dot and ":65535". */
export const MAX_AUTHORITY_LENGTH = MAX_HOST_LENGTH + 1 + 6

const OPEN_BRACKET = 0x5b
const COLON = 0x3a
const DOT = 0x2e

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

// Host name characters: letters, digits, "-", "_" and the "." between labels: the part of
// RFC 3986 reg-name that DNS names, Envoy's virtual hosts and WHATWG URL all read alike.
function isNameChar(c: number): boolean {
  return (
    isDigit(c) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d ||
    c === 0x5f ||
    c === DOT
  )
}

/** ":" then 1-5 digits, at most 65535, to the end of `s`. */
function isPortAt(s: string, colon: number): boolean {
  if (s.charCodeAt(colon) !== COLON) return false
  const digits = s.length - colon - 1
  if (digits < 1 || digits > 5) return false
  let port = 0
  for (let i = colon + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) return false
    port = port * 10 + (c - 0x30)
  }
  return port <= 65535
}

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/
// WHATWG URL's "ends in a number": such a host is parsed as IPv4 (decimal, octal or hex parts).
const ENDS_IN_NUMBER = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/

function ipv4OrName(lower: string): string | undefined {
  const labels = lower.split('.')
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH) return undefined
  }
  if (!ENDS_IN_NUMBER.test(lower)) return lower
  // Only a dotted quad in its one canonical spelling: 127.1, 0x7f.0.0.1 and 127.000.0.1 are the
  // same address to some parsers and other names (or nothing) to others.
  if (labels.length !== 4) return undefined
  for (const label of labels) {
    if (!DEC_OCTET.test(label) || Number(label) > 255) return undefined
  }
  return lower
}

function ipv6(bracketed: string): string | undefined {
  const inner = bracketed.slice(1, -1)
  // No zone ID (RFC 6874 "%25eth0") and no IPvFuture: only a plain IPv6 address.
  if (bracketed.charCodeAt(bracketed.length - 1) !== 0x5d || !/^[0-9A-Fa-f:.]+$/.test(inner)) {
    return undefined
  }
  if (!isIPv6(inner)) return undefined
  try {
    // WHATWG URL serialises IPv6 per RFC 5952 (lower case, longest zero run compressed), so
    // [0:0::1] and [::1] are one host.
    return new URL(`http://[${inner}]/`).hostname
  } catch {
    return undefined
  }
}

/**
 * A host (no port) normalised: lower case, one trailing dot removed, IPv6 in brackets in its
 * RFC 5952 form. Undefined unless it is a host name (labels of 1-63 of [A-Za-z0-9_-] separated
 * by ".", at most 253 characters, not ending in a number), a dotted-quad IPv4 address
 * (0-255, no leading zeros) or a bracketed IPv6 address without zone.
 */
function normalizeHost(host: string): string | undefined {
  if (host.charCodeAt(0) === OPEN_BRACKET) return ipv6(host)
  for (let i = 0; i < host.length; i++) {
    if (!isNameChar(host.charCodeAt(i))) return undefined
  }
  // ASCII only from here: toLowerCase folds nothing outside A-Z (no KELVIN SIGN turning to "k").
  let lower = host.toLowerCase()
  if (lower.charCodeAt(lower.length - 1) === DOT) lower = lower.slice(0, -1)
  if (lower.length === 0 || lower.length > MAX_HOST_LENGTH) return undefined
  return ipv4OrName(lower)
}

/**
 * The host of an HTTP/2 `:authority` (RFC 9110 §7.2: host [":" port]), normalised as
 * normalizeHost does; undefined when the authority has userinfo, a port that is not 1-5 digits
 * up to 65535, or a host normalizeHost refuses, or is empty or longer than MAX_AUTHORITY_LENGTH.
 */
export function hostOfAuthority(authority: string): string | undefined {
  const n = authority.length
  if (n === 0 || n > MAX_AUTHORITY_LENGTH) return undefined
  let hostEnd: number
  if (authority.charCodeAt(0) === OPEN_BRACKET) {
    hostEnd = authority.indexOf(']') + 1
    if (hostEnd === 0) return undefined
  } else {
    const colon = authority.indexOf(':')
    hostEnd = colon < 0 ? n : colon
  }
  if (hostEnd < n && !isPortAt(authority, hostEnd)) return undefined
  return normalizeHost(authority.slice(0, hostEnd))
}

type HostPattern =
  | { readonly kind: 'exact'; readonly host: string }
  /** `*.example.org`: any host ending in `.example.org` (one or more labels before it). */
  | { readonly kind: 'suffix'; readonly suffix: string }

export const HOST_PATTERN_HELP =
  'expected a host name (labels of 1-63 [A-Za-z0-9_-] separated by "."), a dotted-quad IPv4 ' +
  'address, a bracketed IPv6 address, or "*." and a host name; no port, userinfo or ' +
  'percent-encoding'

/** A policy `hosts:` entry, normalised as request hosts are; undefined if it is not one. */
export function parseHostPattern(pattern: string): HostPattern | undefined {
  if (pattern.startsWith('*.')) {
    const suffix = normalizeHost(pattern.slice(2))
    // A wildcard over an IP address names nothing.
    if (suffix === undefined || suffix.startsWith('[') || ENDS_IN_NUMBER.test(suffix)) {
      return undefined
    }
    return { kind: 'suffix', suffix: `.${suffix}` }
  }
  const host = normalizeHost(pattern)
  return host === undefined ? undefined : { kind: 'exact', host }
}
