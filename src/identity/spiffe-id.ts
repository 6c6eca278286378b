// SPIFFE ID parsing per the SPIFFE ID standard (spiffe/spiffe standards/SPIFFE-ID.md), as strict
// as go-spiffe v2: lowercase scheme and trust domain, no empty/dot segments, no percent-encoding,
// query, fragment, port or userinfo. Runs per request on peer identities, so it never throws,
// uses no regexes and allocates only the result.

/** SPIFFE-ID.md §2.3: implementations MUST support 2048-byte IDs and SHOULD NOT make longer. */
export const MAX_SPIFFE_ID_BYTES = 2048
/** SPIFFE-ID.md §2.3: RFC 3986 limits the host to 255 characters, so the trust domain too. */
const MAX_TRUST_DOMAIN_BYTES = 255

const SCHEME = 'spiffe://'
const SLASH = 0x2f
const DOT = 0x2e

export interface SpiffeId {
  /** The whole ID, exactly as parsed. */
  readonly uri: string
  /** e.g. 'example.org'. */
  readonly trustDomain: string
  /** e.g. '/ns/prod/sa/api'; '' when the ID has no path. */
  readonly path: string
}

type SpiffeIdParseResult =
  | { readonly ok: true; readonly id: SpiffeId }
  | { readonly ok: false; readonly error: string }

function fail(error: string): SpiffeIdParseResult {
  return { ok: false, error }
}

// §2.1: "letters, numbers, dots, dashes, and underscores ([a-z0-9.-_])", and "MUST be lowercase".
function isTrustDomainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === DOT || c === 0x2d || c === 0x5f
  )
}

// §2.2: "Individual path segments MUST contain only letters, numbers, dots, dashes, and
// underscores ([a-zA-Z0-9.-_])". go-spiffe's opt-in back-compat characters are not accepted.
function isPathChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a)
}

function describeChar(s: string, i: number): string {
  return `${JSON.stringify(s[i])} at offset ${i}`
}

/**
 * Parses a SPIFFE ID. Every character of a valid ID is ASCII, so for accepted IDs the string
 * length is the byte length; anything non-ASCII is refused as an invalid character.
 */
export function parseSpiffeId(input: string): SpiffeIdParseResult {
  if (input.length === 0) return fail('empty')
  if (input.length > MAX_SPIFFE_ID_BYTES) return fail(`longer than ${MAX_SPIFFE_ID_BYTES} bytes`)
  // §2.4 calls the scheme case-insensitive, but go-spiffe and SPIRE only ever emit "spiffe://"
  // and a second spelling of one identity is a matching hazard, so only lowercase is accepted.
  if (!input.startsWith(SCHEME)) return fail('scheme must be "spiffe://" (lowercase)')

  // §2.1: authority = host only; no userinfo, no port, not empty, not percent-encoded.
  const tdStart = SCHEME.length
  let i = tdStart
  for (; i < input.length; i++) {
    const c = input.charCodeAt(i)
    if (c === SLASH) break
    if (!isTrustDomainChar(c)) {
      if (c === 0x3a) return fail(`trust domain must not have a port (":" at offset ${i})`)
      if (c === 0x40) return fail(`trust domain must not have userinfo ("@" at offset ${i})`)
      if (c === 0x3f) return fail(`must not have a query ("?" at offset ${i})`)
      if (c === 0x23) return fail(`must not have a fragment ("#" at offset ${i})`)
      if (c === 0x25) return fail(`trust domain must not be percent-encoded ("%" at offset ${i})`)
      return fail(`trust domain contains invalid character ${describeChar(input, i)}`)
    }
  }
  const tdEnd = i
  if (tdEnd === tdStart) return fail('trust domain is empty')
  if (tdEnd - tdStart > MAX_TRUST_DOMAIN_BYTES) {
    return fail(`trust domain longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`)
  }

  // §2.2: path = *( "/" segment ); segments non-empty, not "." or "..", no trailing "/".
  // A '?' or '#' is not a path character, which also rules out queries and fragments (§2).
  let segStart = tdEnd + 1
  for (let j = segStart; tdEnd < input.length && j <= input.length; j++) {
    // j === input.length acts as a final "/" that closes the last segment.
    const c = j < input.length ? input.charCodeAt(j) : SLASH
    if (c === SLASH) {
      const len = j - segStart
      if (len === 0) {
        return fail(
          j === input.length ? 'path must not end with "/"' : `empty path segment at offset ${j}`,
        )
      }
      if (
        input.charCodeAt(segStart) === DOT &&
        (len === 1 || (len === 2 && input.charCodeAt(segStart + 1) === DOT))
      ) {
        return fail(`path has a "." or ".." segment at offset ${segStart}`)
      }
      segStart = j + 1
    } else if (!isPathChar(c)) {
      if (c === 0x25) return fail(`path must not be percent-encoded ("%" at offset ${j})`)
      if (c === 0x3f) return fail(`must not have a query ("?" at offset ${j})`)
      if (c === 0x23) return fail(`must not have a fragment ("#" at offset ${j})`)
      return fail(`path contains invalid character ${describeChar(input, j)}`)
    }
  }
  return {
    ok: true,
    id: { uri: input, trustDomain: input.slice(tdStart, tdEnd), path: input.slice(tdEnd) },
  }
}

/** A bare trust domain name (no scheme), as written in config: §2.1 rules and the §2.3 limit. */
export function isValidTrustDomain(name: string): boolean {
  if (name.length === 0 || name.length > MAX_TRUST_DOMAIN_BYTES) return false
  for (let i = 0; i < name.length; i++) if (!isTrustDomainChar(name.charCodeAt(i))) return false
  return true
}

/**
 * What a policy condition accepts. `id` and `prefix` must themselves be valid SPIFFE IDs (config
 * validation checks this; a prefix written with a trailing "/" is normalised by the caller, and
 * one left with it would match nothing). `trustDomain` must pass isValidTrustDomain.
 */
export type SpiffeIdMatcher =
  | { readonly kind: 'exact'; readonly id: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'trust_domain'; readonly trustDomain: string }

/**
 * Prefix matching is segment-aware: spiffe://td/ns/prod matches itself and spiffe://td/ns/prod/…
 * but never spiffe://td/ns/production, and spiffe://td matches every ID in td but not
 * spiffe://td.evil. Comparison is exact (case-sensitive): both sides are canonical once parsed.
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
        (id.uri.length === m.prefix.length || id.uri.charCodeAt(m.prefix.length) === SLASH)
      )
  }
}
