import type { AccessLogEntry } from './access-log.js'
import type { Svid } from './https-client.js'

// The one small interface both labs implement (compose.ts with Docker, local.ts with plain
// processes), so the shared cases in fail-closed-cases.ts run the same against either.

export interface LabControl {
  /** Envoy's TLS listener on 127.0.0.1. */
  readonly envoyPort: number
  /** The lab CA (trust bundle): Envoy's certificate and the client SVIDs chain to it. */
  readonly ca: string
  /** client.pem: the runner the policy allows. */
  readonly runner: Svid
  /** processor.pem used as a client SVID: valid in the trust domain, allowed by no rule. */
  readonly other: Svid
  /** A raw runner token (RSA-OAEP-SHA256) for `session`, made with the project's CLI. */
  token(session: string): string
  /** A compact JWE runner token for `session`, expiring after `ttl` (e.g. "1h"). */
  jwe(session: string, ttl: string): string
  /** Requests that reached the upstream so far. */
  upstreamCount(): Promise<number>
  /** The processor process: killed (SIGKILL), hung (SIGSTOP/pause), resumed, started again. */
  kill(): Promise<void>
  hang(): Promise<void>
  resume(): Promise<void>
  restart(): Promise<void>
  /** Envoy's %RESPONSE_CODE_DETAILS% for the request to `path`, from its access log. */
  details(path: string): Promise<string>
  /** Envoy's whole access-log line for the request to `path` (a path made by unique()). */
  accessLine(path: string): Promise<AccessLogEntry>
}
