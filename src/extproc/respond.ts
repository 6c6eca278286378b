import type { Allow, Deny } from '../authz/decision.js'
import { REASONS } from '../authz/reasons.js'
import type { HeaderMutationSpec, HeaderToSet } from './codec/processing-response.js'
import { encodeContinue, encodeImmediateResponse } from './codec/processing-response.js'

export interface HeaderOptions {
  readonly spiffeId: string
  readonly sessionId: string
  /** Further client-sent headers removed on every allowed request. */
  readonly strip: readonly string[]
}

const ANSWER_CACHE_MAX = 4096

const JSON_CONTENT_TYPE: HeaderToSet = { name: 'content-type', value: 'application/json' }

/**
 * Builds the ext_proc answers for decisions. Header names are fixed per config snapshot, so the
 * allow mutation with nothing to set (public routes without a peer) is encoded once.
 */
export class Responder {
  private readonly owned: readonly string[]
  private readonly bareAllow: Buffer
  /**
   * Allow answers by what they carry (peer SPIFFE ID, runner session, whether Authorization is
   * stripped): a deployment has few workloads, a runner repeats its session on every request,
   * and encoding the same mutation per request was a measurable share of the hot path.
   * Bounded: cleared when full.
   */
  private readonly encoded = new Map<string, Buffer>()

  constructor(private readonly headers: HeaderOptions) {
    this.owned = [...new Set([headers.spiffeId, headers.sessionId, ...headers.strip])]
    this.bareAllow = encodeContinue('request_headers', { set: [], remove: this.owned })
  }

  allow(decision: Allow): Buffer {
    const { spiffeId, sessionId, stripAuthorization } = decision
    if (spiffeId === undefined && sessionId === undefined && !stripAuthorization) {
      return this.bareAllow
    }
    // Unambiguous whatever the characters: flags, then the SPIFFE ID's length before both.
    const key =
      `${stripAuthorization ? 'S' : 's'}${sessionId === undefined ? 'n' : 'y'}` +
      `${spiffeId === undefined ? -1 : spiffeId.length}:${spiffeId ?? ''}${sessionId ?? ''}`
    const cached = this.encoded.get(key)
    if (cached !== undefined) return cached
    const set: HeaderToSet[] = []
    if (spiffeId !== undefined) set.push({ name: this.headers.spiffeId, value: spiffeId })
    if (sessionId !== undefined) set.push({ name: this.headers.sessionId, value: sessionId })
    // Headers we set are overwritten (every client copy replaced); every other header we own
    // is removed, so a client can never smuggle an identity header upstream.
    const remove = this.owned.filter((h) => !set.some((s) => s.name === h))
    if (stripAuthorization) remove.push('authorization')
    const mutation: HeaderMutationSpec = { set, remove }
    const answer = encodeContinue('request_headers', mutation)
    if (this.encoded.size >= ANSWER_CACHE_MAX) this.encoded.clear()
    this.encoded.set(key, answer)
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
