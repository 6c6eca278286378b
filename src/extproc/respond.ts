import type { Allow, Deny } from '../authz/decision.js'
import { REASONS } from '../authz/reasons.js'
import type { RequestFacts } from '../authz/request-facts.js'
import { BoundedPairMap, ENTRY_OVERHEAD_BYTES, stringBytes } from '../shared/bounded-memo.js'
import {
  type BearerChallenges,
  bearerChallenges,
  challengeFor,
  DEFAULT_REALM,
} from '../tokens/bearer-challenge.js'
import type { HeaderMutationSpec, HeaderToSet } from './codec/processing-response.js'
import { encodeContinue, encodeImmediateResponse } from './codec/processing-response.js'
import { DecisionMetadata, type DecisionMetadataOptions } from './decision-metadata.js'
import { headerSpellings } from './header-spellings.js'

interface HeaderOptions {
  readonly spiffeId: string
  readonly sessionId: string
  /** Further client-sent headers removed on every allowed request. */
  readonly strip: readonly string[]
  /** Remove `authorization` on every allowed request (headers.strip_authorization). */
  readonly stripAuthorization: boolean
}

export interface AnswerOptions {
  /** Dynamic metadata on every answer (decision_metadata); undefined: none, at no cost. */
  readonly metadata?: DecisionMetadataOptions | undefined
  /** The realm of WWW-Authenticate: Bearer challenges (runner_tokens.realm). */
  readonly realm?: string | undefined
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
  private readonly encoded = new BoundedPairMap<string | undefined, string | undefined, Buffer>(
    ANSWER_CACHE_BYTES,
  )

  private readonly metadata: DecisionMetadata | undefined
  private readonly challenges: BearerChallenges

  constructor(
    private readonly headers: HeaderOptions,
    answers: AnswerOptions = {},
  ) {
    this.metadata =
      answers.metadata === undefined ? undefined : new DecisionMetadata(answers.metadata)
    this.challenges = bearerChallenges(answers.realm ?? DEFAULT_REALM)
    const owned = [headers.spiffeId, headers.sessionId, ...headers.strip].flatMap(headerSpellings)
    if (headers.stripAuthorization) owned.push('authorization')
    this.owned = [...new Set(owned)]
    this.bareAllow = encodeContinue('request_headers', { set: [], remove: this.owned })
  }

  /** The answer for an allow; `facts` feed the decision metadata when it is on. */
  allow(decision: Allow, facts?: RequestFacts): Buffer {
    const answer = this.allowAnswer(decision)
    return this.metadata === undefined ? answer : this.metadata.allow(answer, decision, facts)
  }

  private allowAnswer(decision: Allow): Buffer {
    const { spiffeId, sessionId } = decision
    if (spiffeId === undefined && sessionId === undefined) return this.bareAllow
    const cached = this.encoded.get(spiffeId, sessionId)
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
    this.encoded.set(spiffeId, sessionId, answer, cost)
    return answer
  }

  /** The ImmediateResponse for a deny; `facts` undefined when the request could not be read. */
  deny(decision: Deny, facts: RequestFacts | undefined): Buffer {
    const spec = REASONS[decision.reason]
    const body = JSON.stringify({
      error: spec.message,
      reason: decision.reason,
      request_id: facts?.requestId ?? null,
    })
    const challenge = challengeFor(decision.reason, this.challenges)
    const answer = encodeImmediateResponse({
      status: spec.status,
      headers:
        challenge === undefined
          ? [JSON_CONTENT_TYPE]
          : [JSON_CONTENT_TYPE, { name: 'www-authenticate', value: challenge }],
      body: Buffer.from(body, 'utf8'),
      details: `extproc_authz_${decision.reason}`,
      grpcStatus: facts?.grpc === true ? spec.grpcStatus : undefined,
    })
    return this.metadata === undefined ? answer : this.metadata.deny(answer, decision, facts)
  }
}
