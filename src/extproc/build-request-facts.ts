import { hostOfAuthority, MAX_AUTHORITY_LENGTH } from '../authz/authority.js'
import { splitRequestPath } from '../authz/path-template.js'
import { AMBIGUOUS, type RequestFacts } from '../authz/request-facts.js'
import { isRequestMethod } from '../authz/request-method.js'
import { MAX_SPIFFE_ID_BYTES, parseSpiffeId, type SpiffeId } from '../identity/spiffe-id.js'
import { xfccPeerUri } from '../identity/xfcc.js'
import { BoundedMemo, ENTRY_OVERHEAD_BYTES, stringBytes } from '../shared/bounded-memo.js'
import { type DecodeSelection, NameSet } from './codec/name-set.js'
import type { AttributeValue, HeaderField } from './codec/processing-request.js'

/** Envoy attribute holding the first URI SAN of the downstream peer certificate. */
export const PEER_URI_SAN_ATTRIBUTE = 'connection.uri_san_peer_certificate'

/** Longest x-request-id echoed back in a deny body (Envoy's own are 36-char UUIDs). */
const MAX_REQUEST_ID_LENGTH = 128
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/

/**
 * Exactly the headers and attributes buildRequestFacts reads (the cases of its switch, and the
 * peer attribute): the decoder turns only these into strings. A header added to the switch
 * must be added here (a unit test checks each one arrives).
 */
export const FACT_SELECTION: DecodeSelection = {
  headers: new NameSet(
    [
      ':method',
      ':path',
      ':authority',
      'authorization',
      'x-forwarded-client-cert',
      'x-request-id',
      'traceparent',
      'content-type',
    ],
    'latin1',
  ),
  attributes: new NameSet([PEER_URI_SAN_ATTRIBUTE], 'utf8'),
}

export interface IdentityOptions {
  /** Read the peer from x-forwarded-client-cert instead of Envoy's connection attribute. */
  readonly xfcc: boolean
}

/** Facts the headers yielded, or why the request cannot be judged at all. */
type FactsResult =
  | { readonly ok: true; readonly facts: RequestFacts }
  | { readonly ok: false; readonly detail: string }

// The same peer SPIFFE ID and :authority arrive on request after request (Envoy sends the peer
// of the downstream connection with every one), and a deployment has few of either: their
// parses are memoized, bounded by bytes. A key longer than any valid value is never held.
// null: no workload identity. An ID that fails the standard is none, and neither is the bare
// trust domain ID (spiffe://example.org): an X509-SVID's SPIFFE ID has a path (X509-SVID.md §2).
const PEERS = new BoundedMemo<SpiffeId | null>(
  (uri) => {
    const parsed = parseSpiffeId(uri)
    return parsed.ok && parsed.id.path !== '' ? parsed.id : null
  },
  {
    maxBytes: 1024 * 1024,
    maxKeyLength: MAX_SPIFFE_ID_BYTES,
    sizeOf: (id) =>
      id === null ? 0 : ENTRY_OVERHEAD_BYTES + stringBytes(id.trustDomain) + stringBytes(id.path),
  },
)
// null: an authority hostOfAuthority refuses (memoized too: a client repeating one costs a lookup).
// Longer keys are refused by hostOfAuthority before any work, so they are never held.
const HOSTS = new BoundedMemo<string | null>((authority) => hostOfAuthority(authority) ?? null, {
  maxBytes: 256 * 1024,
  maxKeyLength: MAX_AUTHORITY_LENGTH,
})

/** The memos' current charge in bytes (tests hold it under its bound). */
export function factMemoBytes(): { peers: number; hosts: number } {
  return { peers: PEERS.bytes, hosts: HOSTS.bytes }
}

function bearerFrom(value: string): string | undefined {
  // RFC 9110: the auth-scheme is case-insensitive; one or more spaces follow it.
  if (value.length < 7 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const token = value.slice(7).trim()
  return token === '' ? undefined : token
}

/**
 * Extracts what authorization needs from a request_headers message, scanning the headers once.
 * The attributes are those of the stream's first message: Envoy sends them only once.
 */
export function buildRequestFacts(
  headers: readonly HeaderField[],
  attributes: ReadonlyMap<string, AttributeValue> | undefined,
  options: IdentityOptions,
): FactsResult {
  let method: string | undefined
  let path: string | undefined
  let authority: string | undefined
  let authorization: string | typeof AMBIGUOUS | undefined
  let xfcc: string | typeof AMBIGUOUS | undefined
  let requestId: string | undefined
  let traceparent: string | undefined
  let contentType = ''
  for (const { name, value } of headers) {
    switch (name) {
      case ':method':
        if (method !== undefined) return { ok: false, detail: 'duplicate :method' }
        method = value
        break
      case ':path':
        if (path !== undefined) return { ok: false, detail: 'duplicate :path' }
        path = value
        break
      case ':authority':
        // Two would leave the host to whichever one a later hop reads.
        if (authority !== undefined) return { ok: false, detail: 'duplicate :authority' }
        authority = value
        break
      case 'authorization':
        authorization = authorization === undefined ? value : AMBIGUOUS
        break
      case 'x-forwarded-client-cert':
        if (options.xfcc) xfcc = xfcc === undefined ? value : AMBIGUOUS
        break
      case 'x-request-id':
        requestId = value
        break
      case 'traceparent':
        traceparent = value
        break
      case 'content-type':
        contentType = value
        break
    }
  }
  if (method === undefined || path === undefined) {
    return { ok: false, detail: 'request_headers without :method or :path' }
  }

  let peerUri: string | undefined
  if (options.xfcc) {
    // Envoy with SANITIZE_SET sends exactly one header; several mean it was not sanitized.
    if (typeof xfcc === 'string') peerUri = xfccPeerUri(xfcc)
  } else {
    const attr = attributes?.get(PEER_URI_SAN_ATTRIBUTE)
    if (typeof attr === 'string' && attr !== '') peerUri = attr
  }
  const peer = peerUri === undefined ? undefined : (PEERS.get(peerUri) ?? undefined)

  let bearer: string | typeof AMBIGUOUS | undefined
  if (authorization === AMBIGUOUS) bearer = AMBIGUOUS
  else if (authorization !== undefined) bearer = bearerFrom(authorization)

  return {
    ok: true,
    facts: {
      method: isRequestMethod(method) ? method : '',
      path,
      segments: splitRequestPath(path),
      // Envoy always sends :authority (HTTP/1 Host becomes it); none is an invalid authority.
      host: authority === undefined ? undefined : (HOSTS.get(authority) ?? undefined),
      peer,
      bearer,
      // Envoy creates no span for the ext_proc side stream: the client's trace context is here.
      traceparent,
      requestId:
        requestId !== undefined &&
        requestId.length <= MAX_REQUEST_ID_LENGTH &&
        PRINTABLE_ASCII.test(requestId)
          ? requestId
          : undefined,
      grpc: contentType.startsWith('application/grpc'),
    },
  }
}
