import type { Allow, Deny } from '../authz/decision.js'
import type { RequestFacts } from '../authz/request-facts.js'
import type { SpiffeId } from '../identity/spiffe-id.js'
import { BoundedMemo, BoundedPairMap } from '../shared/bounded-memo.js'
import type { SessionHasher } from '../shared/session-hasher.js'
import {
  appendDynamicMetadata,
  stringStructField,
  type TailField,
  utf8Key,
} from './codec/dynamic-metadata.js'

/**
 * The keys of the decision metadata, stable: access-log formats (%DYNAMIC_METADATA(ns:key)%),
 * rate-limit descriptors and RBAC matchers name them. A key is left out when it has no value.
 */
export const METADATA_KEYS = {
  /** `allow` or `deny`. */
  decision: 'decision',
  /** `allowed`, `public`, or the deny reason code (docs/config-reference.md, reasons). */
  reason: 'reason',
  /** The policy rule that decided; absent when none matched or the request was unreadable. */
  rule: 'rule',
  /** Where the peer SPIFFE ID came from: `peer_certificate` (Envoy's attribute) or `xfcc`. */
  identitySource: 'identity_source',
  /** The peer's SPIFFE ID. */
  peer: 'peer',
  /** The peer's trust domain. */
  trustDomain: 'trust_domain',
  /** The keyed hash of the runner session id the decision logs carry; never the id itself. */
  sessionHash: 'session_hash',
  /** x-request-id as the processor read it (printable ASCII, bounded); only with request_id on. */
  requestId: 'request_id',
} as const

export interface DecisionMetadataOptions {
  /** The Struct key Envoy files our keys under: list it in receiving_namespaces.untyped. */
  readonly namespace: string
  /** Whether peer identities come from XFCC (identity.xfcc.enabled) or the TLS peer. */
  readonly xfcc: boolean
  /**
   * Carry x-request-id too. Envoy has it already (%REQ(X-REQUEST-ID)%), and it makes every
   * answer unique: allow answers are then built per request instead of reused.
   */
  readonly requestId?: boolean | undefined
  /**
   * The decision log's keyed session hash (logging.hash_key_file), so an access-log line and a
   * decision-log line of one session join. The only thing metadata hashes a session id with.
   */
  readonly hasher: SessionHasher
}

/** Bytes of encoded session-hash fields held at most (a runner repeats its session). */
const SESSION_FIELDS_BYTES = 512 * 1024
/** Runner session ids are at most 446 characters (runner_tokens.session_id.max_length). */
const MAX_SESSION_KEY_LENGTH = 446
/** Bytes of whole allow answers with metadata held at most (see DecisionMetadata.answers). */
const ANSWERS_BYTES = 4 * 1024 * 1024
/** Rough heap cost of a held answer beyond its bytes (WeakMap and Map entries, the Buffer). */
const ANSWER_OVERHEAD_BYTES = 160

const REQUEST_ID_KEY = utf8Key(METADATA_KEYS.requestId)
const DECISION_ALLOW = stringStructField(METADATA_KEYS.decision, 'allow')
const DECISION_DENY = stringStructField(METADATA_KEYS.decision, 'deny')

/**
 * Builds ProcessingResponse.dynamic_metadata for decisions and appends it to the encoded answer.
 * Without request_id an allow's metadata is a function of what its answer already encodes (peer,
 * session) and the rule, so whole answers are reused per (answer, rule): the same Buffer goes
 * out for a runner's every request, as without metadata (the transport also reuses its framing
 * then). Building it per request measured ~8% fewer streams per CPU-second. Otherwise fields
 * that repeat are encoded once: per rule, per peer (held as long as the request facts'
 * memoized SpiffeId lives), per session (bounded by bytes); request_id per request.
 */
export class DecisionMetadata {
  private readonly namespace: Buffer
  private readonly identitySource: Buffer
  /** Allow fields by rule: rule names come from the policy, so this is bounded by its size. */
  private readonly allowed = new Map<string, Buffer>()
  private readonly peers = new WeakMap<SpiffeId, Buffer>()
  private readonly hasher: SessionHasher
  /** The hasher's key generation the held session fields and answers were built under. */
  private generation: number
  private sessions: BoundedMemo<Buffer>

  private readonly withRequestId: boolean
  /**
   * Allow answers with metadata, by the answer they extend (the Responder's, held by its own
   * bounded cache) and rule. Bounded by bytes: dropped whole past ANSWERS_BYTES.
   */
  private readonly answers = new BoundedPairMap<Buffer, string, Buffer>(
    ANSWERS_BYTES,
    () => new WeakMap(),
  )

  constructor(options: DecisionMetadataOptions) {
    this.withRequestId = options.requestId === true
    this.hasher = options.hasher
    this.generation = options.hasher.generation
    this.sessions = this.sessionFields()
    this.namespace = utf8Key(options.namespace)
    this.identitySource = stringStructField(
      METADATA_KEYS.identitySource,
      options.xfcc ? 'xfcc' : 'peer_certificate',
    )
  }

  allow(answer: Buffer, decision: Allow, facts: RequestFacts | undefined): Buffer {
    // A rotated log hash key: what was built under the old key carries old session hashes.
    if (this.hasher.generation !== this.generation) this.dropSessionHashes()
    // The answer encodes decision.spiffeId; the peer fields come from facts.peer. They are one
    // (authorize sets one from the other); anything else is built, never held.
    if (this.withRequestId || facts?.peer?.uri !== decision.spiffeId) {
      return this.build(answer, decision, facts)
    }
    const held = this.answers.get(answer, decision.rule)
    if (held !== undefined) return held
    const built = this.build(answer, decision, facts)
    this.answers.set(answer, decision.rule, built, built.length + ANSWER_OVERHEAD_BYTES)
    return built
  }

  private sessionFields(): BoundedMemo<Buffer> {
    return new BoundedMemo<Buffer>(
      (id) => stringStructField(METADATA_KEYS.sessionHash, this.hasher.hash(id)),
      {
        maxBytes: SESSION_FIELDS_BYTES,
        maxKeyLength: MAX_SESSION_KEY_LENGTH,
        sizeOf: (b) => b.length,
      },
    )
  }

  private dropSessionHashes(): void {
    this.generation = this.hasher.generation
    this.sessions = this.sessionFields()
    this.answers.clear()
  }

  private build(answer: Buffer, decision: Allow, facts: RequestFacts | undefined): Buffer {
    let ruleFields = this.allowed.get(decision.rule)
    if (ruleFields === undefined) {
      ruleFields = Buffer.concat([
        DECISION_ALLOW,
        stringStructField(METADATA_KEYS.reason, decision.reason),
        stringStructField(METADATA_KEYS.rule, decision.rule),
      ])
      this.allowed.set(decision.rule, ruleFields)
    }
    const fields: Buffer[] = [ruleFields]
    this.peer(fields, facts)
    if (decision.sessionId !== undefined) fields.push(this.sessions.get(decision.sessionId))
    return appendDynamicMetadata(answer, this.namespace, fields, this.requestIdField(facts))
  }

  deny(answer: Buffer, decision: Deny, facts: RequestFacts | undefined): Buffer {
    const fields: Buffer[] = [
      DECISION_DENY,
      stringStructField(METADATA_KEYS.reason, decision.reason),
    ]
    if (decision.rule !== undefined)
      fields.push(stringStructField(METADATA_KEYS.rule, decision.rule))
    this.peer(fields, facts)
    return appendDynamicMetadata(answer, this.namespace, fields, this.requestIdField(facts))
  }

  /** The peer's fields, when the request had a peer identity. */
  private peer(fields: Buffer[], facts: RequestFacts | undefined): void {
    const peer = facts?.peer
    if (peer !== undefined) {
      let peerFields = this.peers.get(peer)
      if (peerFields === undefined) {
        peerFields = Buffer.concat([
          this.identitySource,
          stringStructField(METADATA_KEYS.peer, peer.uri),
          stringStructField(METADATA_KEYS.trustDomain, peer.trustDomain),
        ])
        this.peers.set(peer, peerFields)
      }
      fields.push(peerFields)
    }
  }

  private requestIdField(facts: RequestFacts | undefined): TailField | undefined {
    const value = this.withRequestId ? facts?.requestId : undefined
    return value === undefined ? undefined : { key: REQUEST_ID_KEY, value }
  }
}
