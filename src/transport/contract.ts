import type { SecureContextOptions, TlsOptions } from 'node:tls'
import type { StreamObserver } from '../extproc/process-stream.js'
import type { SnapshotSource } from '../extproc/snapshot.js'
import type { HealthState } from '../observe/health.js'
import type { VerifyPeer } from './peer-check.js'

// What every transport serves and is given: each folder (http2/, grpc-js/) implements it.

/** The one RPC a transport serves besides grpc.health.v1. */
export const PROCESS_METHOD_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process'

/**
 * Both transports ping connections (grpc-js every one, http2 those without streams) at this
 * interval (ms), so a session nghttp2 stopped reading (its rapid-reset GOAWAY: see
 * http2/session-guard.ts) is found and destroyed instead of sitting in CLOSE-WAIT for good...
 */
export const IDLE_PING_MS = 2000
/**
 * ...when the ack does not come within this (ms). Destroying a session with no stream fails no
 * call; a live peer acks in well under a second even when busy.
 */
export const PING_TIMEOUT_MS = 5000

export interface TransportOptions {
  /** host:port; port 0 picks a free port. */
  readonly listen: string
  readonly snapshots: SnapshotSource
  readonly observer: StreamObserver
  /** Largest gRPC message accepted (bytes). */
  readonly maxMessageBytes: number
  /** Node TLS server options (key, cert, ca, requestCert...); absent: plaintext. */
  readonly tls?: TlsOptions
  /** Checks the peer of each TLS connection before any stream of it is read. */
  readonly verifyPeer?: VerifyPeer
  /** Serves grpc.health.v1.Health Check and Watch from this state (Envoy's gRPC health checks). */
  readonly health?: HealthState
  /** A stream asks for an admission slot: false refuses it (answered 503, never counted). */
  onStreamStart?(): boolean | undefined
  /** An admitted stream gives its slot back: at its first answer, or when it ends unanswered. */
  onStreamEnd?(): void
}

/** A started transport. */
export interface Transport {
  /** The bound port (useful with port 0). */
  readonly port: number
  /** Replaces the TLS secure context for new connections (certificate rotation). */
  setSecureContext(options: SecureContextOptions): void
  /** Stops accepting; waits for open streams up to `graceMs`, then ends them. */
  close(graceMs: number): Promise<void>
}
