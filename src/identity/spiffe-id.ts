// SPIFFE ID parsing per the SPIFFE ID standard (spiffe/spiffe standards/SPIFFE-ID.md), as strict
// as go-spiffe: lowercase scheme and trust domain, no empty/dot segments, no percent-encoding,
// query, fragment, port or userinfo. Runs per request: no exceptions, no regex backtracking.

export const MAX_SPIFFE_ID_BYTES = 2048 // the standard: implementations must support 2048 bytes
export const MAX_TRUST_DOMAIN_BYTES = 255 // the standard: trust domain at most 255 bytes

const SCHEME = 'spiffe://'

export interface SpiffeId {
  readonly uri: string
  readonly trustDomain: string
  /** '' when the ID has no path. */
  readonly path: string
}

export type SpiffeIdParseResult =
  | { readonly ok: true; readonly id: SpiffeId }
  | { readonly ok: false; readonly error: string }

function fail(error: string): SpiffeIdParseResult {
  return { ok: false, error }
}

// [a-z0-9._-]
function isTrustDomainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d
  )
}

// [a-zA-Z0-9._-]
function isPathChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a)
}

function describeChar(s: string, i: number): string {
  return `${JSON.stringify(s[i])} at offset ${i}`
}

export function parseSpiffeId(input: string): SpiffeIdParseResult {
  if (input.length === 0) return fail('empty')
  // All valid characters are ASCII, so string length equals byte length for valid IDs; a
  // non-ASCII character is rejected below anyway.
  if (input.length > MAX_SPIFFE_ID_BYTES) return fail(`longer than ${MAX_SPIFFE_ID_BYTES} bytes`)
  if (!input.startsWith(SCHEME)) return fail('scheme must be "spiffe://"')
  const tdStart = SCHEME.length
  let i = tdStart
  for (; i < input.length; i++) {
    const c = input.charCodeAt(i)
    if (c === 0x2f) break // '/'
    if (!isTrustDomainChar(c)) {
      if (c === 0x3a) return fail('trust domain must not have a port')
      if (c === 0x40) return fail('trust domain must not have userinfo')
      return fail(`trust domain contains invalid character ${describeChar(input, i)}`)
    }
  }
  const trustDomain = input.slice(tdStart, i)
  if (trustDomain.length === 0) return fail('trust domain is empty')
  if (trustDomain.length > MAX_TRUST_DOMAIN_BYTES) {
    return fail(`trust domain longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`)
  }
  const path = input.slice(i)
  if (path.length > 0) {
    // path = 1*( "/" segment ), segment non-empty, not "." or "..", of [a-zA-Z0-9._-]
    let segStart = 1
    for (let j = 1; j <= path.length; j++) {
      const c = j < path.length ? path.charCodeAt(j) : 0x2f
      if (c === 0x2f) {
        const len = j - segStart
        if (len === 0) {
          return fail(
            j === path.length ? 'path must not end with "/"' : 'path has an empty segment',
          )
        }
        if (
          path.charCodeAt(segStart) === 0x2e &&
          (len === 1 || (len === 2 && path.charCodeAt(segStart + 1) === 0x2e))
        ) {
          return fail('path has a "." or ".." segment')
        }
        segStart = j + 1
      } else if (!isPathChar(c)) {
        if (c === 0x25) return fail('path must not be percent-encoded')
        if (c === 0x3f) return fail('must not have a query')
        if (c === 0x23) return fail('must not have a fragment')
        return fail(`path contains invalid character ${describeChar(input, i + j)}`)
      }
    }
  }
  return { ok: true, id: { uri: input, trustDomain, path } }
}

export function isValidTrustDomain(name: string): boolean {
  if (name.length === 0 || name.length > MAX_TRUST_DOMAIN_BYTES) return false
  for (let i = 0; i < name.length; i++) if (!isTrustDomainChar(name.charCodeAt(i))) return false
  return true
}

export type SpiffeIdMatcher =
  | { readonly kind: 'exact'; readonly id: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'trust_domain'; readonly trustDomain: string }

/**
 * Prefix matching is segment-aware: spiffe://td/ns/prod matches itself and spiffe://td/ns/prod/…
 * but never spiffe://td/ns/production. The prefix must itself be a valid SPIFFE ID.
 */
export function matchesSpiffeId(id: SpiffeId, m: SpiffeIdMatcher): boolean {
  switch (m.kind) {
    case 'exact':
      return id.uri === m.id
    case 'trust_domain':
      return id.trustDomain === m.trustDomain
    case 'prefix':
      return (
        id.uri.startsWith(m.prefix) &&
        (id.uri.length === m.prefix.length || id.uri.charCodeAt(m.prefix.length) === 0x2f)
      )
  }
}
