import type { AuthorizeDeps } from '../authz/authorize.js'
import type { CompiledPolicy } from '../authz/compile-policy.js'
import type { IdentityOptions } from './build-request-facts.js'
import type { DecodeLimits } from './codec/processing-request.js'
import type { Responder } from './respond.js'

/**
 * Everything a decision reads, built whole from one validated config and swapped atomically.
 * Streams take the snapshot once, on their request_headers message.
 */
export interface Snapshot {
  readonly policy: CompiledPolicy
  readonly identity: IdentityOptions
  readonly responder: Responder
  readonly limits: DecodeLimits
  readonly deps: AuthorizeDeps
}

export interface SnapshotSource {
  /** Undefined until the first snapshot is loaded: streams are then denied with not_ready. */
  current(): Snapshot | undefined
}

export class SnapshotHolder implements SnapshotSource {
  private snapshot: Snapshot | undefined

  constructor(initial?: Snapshot) {
    this.snapshot = initial
  }

  current(): Snapshot | undefined {
    return this.snapshot
  }

  swap(next: Snapshot): void {
    this.snapshot = next
  }
}
