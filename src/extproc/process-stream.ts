import { authorize } from '../authz/authorize.js'
import { type Decision, type Deny, deny } from '../authz/decision.js'
import type { RequestFacts } from '../authz/request-facts.js'
import { buildRequestFacts, FACT_SELECTION } from './build-request-facts.js'
import {
  type AttributeValue,
  type DecodedProcessingRequest,
  decodeProcessingRequest,
  LimitExceededError,
} from './codec/processing-request.js'
import { encodeContinue } from './codec/processing-response.js'
import { Responder } from './respond.js'
import type { Snapshot, SnapshotSource } from './snapshot.js'

export interface DecisionEvent {
  readonly decision: Decision
  /** Undefined when the request could not be read (malformed, over limits, protocol error). */
  readonly facts: RequestFacts | undefined
  /** Milliseconds from receiving request_headers to the answer being handed to the transport. */
  readonly durationMs: number
}

export interface StreamObserver {
  onDecision(event: DecisionEvent): void
}

/** How a transport (grpc-js or the lean HTTP/2 one) takes our answers. */
export interface ResponseSink {
  send(message: Buffer): void
  /** Ends the response stream with gRPC status OK. */
  end(): void
}

type State = 'awaiting_request_headers' | 'deciding' | 'allowed' | 'finished'

/**
 * One ext_proc stream: one HTTP request. Answers request_headers with exactly one decision and
 * every other phase with a CONTINUE of the matching kind, in order. Fail closed: anything that
 * goes wrong before or during the decision ends in an ImmediateResponse deny, never a CONTINUE.
 */
export class ProcessStream {
  private state: State = 'awaiting_request_headers'
  private attributes: ReadonlyMap<string, AttributeValue> | undefined
  private firstMessage = true
  /** Messages that arrived while an asynchronous decision was pending, answered after it. */
  private backlog: Uint8Array[] | undefined
  private inputEnded = false

  constructor(
    private readonly snapshots: SnapshotSource,
    private readonly sink: ResponseSink,
    private readonly observer: StreamObserver,
    /** False when the stream is over the in-flight limit: its first message gets 503. */
    private readonly admitted = true,
  ) {
    const idleMs = snapshots.current()?.limits.streamIdleTimeoutMs ?? 10_000
    this.idleTimer = setTimeout(() => {
      if (this.state === 'awaiting_request_headers') {
        this.fail(
          snapshots.current()?.responder,
          deny('stream_idle_timeout', 'no request_headers in time'),
        )
      }
    }, idleMs)
    this.idleTimer.unref()
  }

  private idleTimer: NodeJS.Timeout | undefined

  /** Handles one ProcessingRequest message (serialized). Never throws. */
  push(message: Uint8Array): void {
    if (this.state === 'finished') return
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    if (!this.admitted) {
      this.fail(
        this.snapshots.current()?.responder,
        deny('overloaded', 'too many streams in flight'),
      )
      return
    }
    if (this.backlog !== undefined) {
      this.backlog.push(message)
      return
    }
    try {
      this.handle(message)
    } catch {
      this.fail(undefined, deny('internal_error', 'unexpected error while handling a message'))
    }
  }

  /** The client half-closed its side: finish ours once every answer is out. */
  endOfInput(): void {
    if (this.state === 'deciding') {
      this.inputEnded = true // finish() once the pending decision and backlog are answered
      return
    }
    this.finish()
  }

  /** The call was cancelled or reset: drop everything, answer nothing. */
  cancel(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.state = 'finished'
    this.backlog = undefined
  }

  private handle(message: Uint8Array): void {
    const snapshot = this.snapshots.current()
    if (snapshot === undefined) {
      this.fail(undefined, deny('not_ready', 'no configuration snapshot loaded yet'))
      return
    }
    let msg: DecodedProcessingRequest
    try {
      msg = decodeProcessingRequest(message, snapshot.limits, FACT_SELECTION)
    } catch (err) {
      if (err instanceof LimitExceededError) {
        this.fail(snapshot.responder, deny('headers_too_large', err.message))
      } else {
        this.fail(snapshot.responder, deny('request_malformed', 'undecodable ProcessingRequest'))
      }
      return
    }
    // Envoy sends attributes once, on the first message of the stream (ext_proc.proto).
    if (this.firstMessage) {
      this.attributes = msg.attributes
      this.firstMessage = false
    }

    switch (this.state) {
      case 'awaiting_request_headers':
        if (msg.phase === 'request_headers') {
          this.decide(snapshot, msg)
        } else {
          // Anything else first means the processor never saw the request headers (processing
          // mode skips them): never let such a request through.
          this.fail(
            snapshot.responder,
            deny('protocol_error', `${msg.phase ?? 'empty message'} before request_headers`),
          )
        }
        return
      case 'allowed':
        if (msg.phase === undefined || msg.phase === 'request_headers') {
          this.fail(snapshot.responder, deny('protocol_error', 'unexpected message after decision'))
        } else {
          this.sink.send(encodeContinue(msg.phase))
        }
        return
      default:
        return
    }
  }

  private decide(snapshot: Snapshot, msg: DecodedProcessingRequest): void {
    const started = performance.now()
    const built = buildRequestFacts(msg.headers, this.attributes, snapshot.identity)
    if (!built.ok) {
      this.fail(snapshot.responder, deny('request_malformed', built.detail), started)
      return
    }
    const facts = built.facts
    let result: Decision | Promise<Decision>
    try {
      result = authorize(facts, snapshot.policy, snapshot.deps)
    } catch {
      result = deny('internal_error', 'authorize threw')
    }
    if (!(result instanceof Promise)) {
      this.answer(snapshot.responder, facts, result, started)
      return
    }
    this.state = 'deciding'
    this.backlog = []
    result
      .catch(() => deny('internal_error', 'credential resolution failed'))
      .then((decision) => {
        if (this.state !== 'deciding') return // cancelled meanwhile
        this.answer(snapshot.responder, facts, decision, started)
        const pending = this.backlog ?? []
        this.backlog = undefined
        for (const m of pending) this.push(m)
        if (this.inputEnded) this.finish()
      })
  }

  private answer(responder: Responder, facts: RequestFacts, decision: Decision, started: number) {
    if (decision.allow) {
      this.state = 'allowed'
      this.sink.send(responder.allow(decision, facts))
    } else {
      this.state = 'finished'
      this.sink.send(responder.deny(decision, facts))
      this.sink.end()
    }
    this.observer.onDecision({ decision, facts, durationMs: performance.now() - started })
  }

  /** Deny without facts (or after a failure): an ImmediateResponse, then end the stream. */
  private fail(responder: Responder | undefined, decision: Deny, started = performance.now()) {
    if (this.state === 'finished') return
    this.state = 'finished'
    this.backlog = undefined
    try {
      this.sink.send((responder ?? FALLBACK_RESPONDER).deny(decision, undefined))
      this.sink.end()
    } finally {
      this.observer.onDecision({
        decision,
        facts: undefined,
        durationMs: performance.now() - started,
      })
    }
  }

  private finish(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    if (this.state === 'finished') return
    this.state = 'finished'
    this.sink.end()
  }
}

/** Used only before any snapshot exists: header names do not matter for a deny. */
const FALLBACK_RESPONDER = new Responder({
  spiffeId: 'x-spiffe-id',
  sessionId: 'x-runner-session-id',
  strip: [],
  stripAuthorization: true,
})
