import type { Allow, Deny } from '../authz/decision.js'
import { REASONS } from '../authz/reasons.js'
import { ENTRY_OVERHEAD_BYTES, stringBytes } from '../shared/bounded-memo.js'
import type { HeaderMutationSpec, HeaderToSet } from './codec/processing-response.js'
import { encodeContinue, encodeImmediateResponse } from './codec/processing-response.js'
import { headerSpellings } from './header-spellings.js'

export interface HeaderOptions {
  readonly spiffeId: string
  readonly sessionId: string
  /** Further client-sent headers removed on every allowed request. */
  readonly strip: readonly string[]
  /** Remove `authorization` on every allowed request (headers.strip_authorization). */
  readonly stripAuthorization: boolean
}

/** Bytes of answers (and their keys) held at most: thousands of workloads' answers fit. */
const ANSWER_CACHE_BYTES = 4 * 1024 * 1024

const JSON_CONTENT_TYPE: HeaderToSet = { name: 'content-type', value: 'application/json' }

/**
 * Builds the ext_proc answers for decisions. Header names are fixed per config snapshot, so the
 * allow mutation with nothing to set (public routes without a peer) is encoded once.
 */
export class Responder {
  private readonly owned: readonly string[]
  private readonly bareAllow: Buffer
  /**
   * Allow answers by what they carry: peer SPIFFE ID -> runner session (undefined keys for
   * absent ones). A deployment has few workloads, a runner repeats its session on every
   * request, and encoding the same mutation per request was a measurable share of the hot path.
   * The keys are the strings the request already holds, so a lookup builds nothing. Bounded by
   * bytes: everything is dropped when the next answer would take the charge (answers, keys,
   * ENTRY_OVERHEAD_BYTES each) past ANSWER_CACHE_BYTES.
   */
  private readonly encoded = new Map<string | undefined, Map<string | undefined, Buffer>>()
  /** Bytes charged for the answers held (see `encoded`). */
  private held = 0

  constructor(private readonly headers: HeaderOptions) {
    const owned = [headers.spiffeId, headers.sessionId, ...headers.strip].flatMap(headerSpellings)
    if (headers.stripAuthorization) owned.push('authorization')
    this.owned = [...new Set(owned)]
    this.bareAllow = encodeContinue('request_headers', { set: [], remove: this.owned })
  }

  allow(decision: Allow): Buffer {
    const { spiffeId, sessionId } = decision
    if (spiffeId === undefined && sessionId === undefined) return this.bareAllow
    const byPeer = this.encoded
    let bySession = byPeer.get(spiffeId)
    const cached = bySession?.get(sessionId)
    if (cached !== undefined) return cached
    const set: HeaderToSet[] = []
    if (spiffeId !== undefined) set.push({ name: this.headers.spiffeId, value: spiffeId })
    if (sessionId !== undefined) set.push({ name: this.headers.sessionId, value: sessionId })
    // Headers we set are overwritten (every client copy replaced); every other header we own
    // (other spellings, Authorization) is removed, so a client can never smuggle an identity
    // header or a credential upstream.
    const remove = this.owned.filter((h) => !set.some((s) => s.name === h))
    const mutation: HeaderMutationSpec = { set, remove }
    const answer = encodeContinue('request_headers', mutation)
    const cost =
      answer.length +
      stringBytes(spiffeId ?? '') +
      stringBytes(sessionId ?? '') +
      2 * ENTRY_OVERHEAD_BYTES
    if (this.held + cost > ANSWER_CACHE_BYTES) {
      this.encoded.clear()
      this.held = 0
      bySession = undefined
    }
    if (bySession === undefined) {
      bySession = new Map()
      byPeer.set(spiffeId, bySession)
    }
    bySession.set(sessionId, answer)
    this.held += cost
    return answer
  }

  deny(decision: Deny, requestId: string | undefined, grpc: boolean): Buffer {
    const spec = REASONS[decision.reason]
    const body = JSON.stringify({
      error: spec.message,
      reason: decision.reason,
      request_id: requestId ?? null,
    })
    return encodeImmediateResponse({
      status: spec.status,
      headers: [JSON_CONTENT_TYPE],
      body: Buffer.from(body, 'utf8'),
      details: `extproc_authz_${decision.reason}`,
      grpcStatus: grpc ? spec.grpcStatus : undefined,
    })
  }
}
