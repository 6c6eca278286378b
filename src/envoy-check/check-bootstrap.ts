import { type Finding, Findings } from './findings.js'
import { loadDescriptor } from './load-descriptor.js'
import { checkExtProcFilters } from './rules-ext-proc.js'
import { checkListeners } from './rules-listener.js'
import { validateMessage } from './validate-message.js'

export interface CheckOptions {
  /** Smallest acceptable ext_proc message_timeout, ms. */
  readonly minMessageTimeoutMs: number
  /** The policy relies on peer (SPIFFE) identity. */
  readonly peerIdentity: boolean
  /** The processor takes identity from x-forwarded-client-cert. */
  readonly xfcc: boolean
}

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap'
/** 500 ms: an uncached RSA-4096 decryption (~6 ms/core) queued behind others, plus GC pauses. */
export const DEFAULT_MIN_MESSAGE_TIMEOUT_MS = 500

/** Strict structural validation against the Envoy API, then the ext_proc security rules. */
export function checkBootstrap(raw: unknown, options: CheckOptions): Finding[] {
  const findings = new Findings()
  const doc = validateMessage(loadDescriptor(), BOOTSTRAP_TYPE, raw ?? {}, findings)
  checkExtProcFilters(doc, findings, options)
  checkListeners(doc, findings, options)
  return findings.list
}
