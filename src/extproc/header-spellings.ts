// Envoy forwards header names with underscores unless the listener says otherwise
// (headers_with_underscores_action defaults to ALLOW), and many upstream frameworks (CGI and WSGI
// environ, nginx with underscores_in_headers, Rack) fold '-' and '_' to one name: a client-sent
// `x_spiffe_id` then reads upstream as the verified `x-spiffe-id`. So a header the service owns
// is removed in every spelling that differs only in '-' versus '_'.

import { AuthzError } from '../shared/errors.js'

/** Bounds the spellings of one owned header: 2^n names for n separators (16 for 4). */
export const MAX_OWNED_HEADER_SEPARATORS = 4

export function separatorCount(name: string): number {
  let n = 0
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 0x2d || c === 0x5f) n++
  }
  return n
}

/** Every spelling of `name` with each '-' or '_' as either; `name` itself first. */
export function headerSpellings(name: string): string[] {
  if (separatorCount(name) > MAX_OWNED_HEADER_SEPARATORS) {
    // The schema refuses such names first: reaching this is a defect.
    throw new AuthzError(
      'ERR_INTERNAL',
      `${name}: more than ${MAX_OWNED_HEADER_SEPARATORS} '-' or '_'`,
    )
  }
  let out = ['']
  for (const ch of name) {
    if (ch === '-' || ch === '_') out = out.flatMap((p) => [`${p}-`, `${p}_`])
    else out = out.map((p) => p + ch)
  }
  return [name, ...out.filter((s) => s !== name)]
}
