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

const PEER_CACHE_MAX = 4096

const JSON_CONTENT_TYPE: HeaderToSet = { name: 'content-type', value: 'application/json' }

/**
 * Builds the ext_proc answers for decisions. Header names are fixed per config snapshot, so the
 * allow mutation with nothing to set (public routes without a peer) is encoded once.
 */
export class Responder {
  private readonly owned: readonly string[]
  private readonly bareAllow: Buffer
  /**
   * Allow answers by peer SPIFFE ID: a deployment has few workloads, and encoding the same
   * mutation per request was a measurable share of the hot path. Bounded: cleared when full.
   */
  private readonly byPeer = new Map<string, Buffer>()

  constructor(private readonly headers: HeaderOptions) {
    this.owned = [...new Set([headers.spiffeId, headers.sessionId, ...headers.strip])]
    this.bareAllow = encodeContinue('request_headers', { set: [], remove: this.owned })
  }

  allow(decision: Allow): Buffer {
    if (
      decision.spiffeId === undefined &&
      decision.sessionId === undefined &&
      !decision.stripAuthorization
    ) {
      return this.bareAllow
    }
    const cacheable = decision.sessionId === undefined && !decision.stripAuthorization
    if (cacheable) {
      const cached = this.byPeer.get(decision.spiffeId as string)
      if (cached !== undefined) return cached
    }
    const set: HeaderToSet[] = []
    if (decision.spiffeId !== undefined) {
      set.push({ name: this.headers.spiffeId, value: decision.spiffeId })
    }
    if (decision.sessionId !== undefined) {
      set.push({ name: this.headers.sessionId, value: decision.sessionId })
    }
    // Headers we set are overwritten (every client copy replaced); every other header we own
    // is removed, so a client can never smuggle an identity header upstream.
    const remove = this.owned.filter((h) => !set.some((s) => s.name === h))
    if (decision.stripAuthorization) remove.push('authorization')
    const mutation: HeaderMutationSpec = { set, remove }
    const encoded = encodeContinue('request_headers', mutation)
    if (cacheable) {
      if (this.byPeer.size >= PEER_CACHE_MAX) this.byPeer.clear()
      this.byPeer.set(decision.spiffeId as string, encoded)
    }
    return encoded
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
