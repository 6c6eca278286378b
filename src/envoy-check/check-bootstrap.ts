import { type Finding, Findings } from './findings.js'
import { loadDescriptor } from './load-descriptor.js'
import { isObject, type Json } from './normalized.js'
import { checkBypasses } from './rules-bypass.js'
import { checkClusters } from './rules-clusters.js'
import { checkExtProcFilters } from './rules-ext-proc.js'
import { checkListeners } from './rules-listener.js'
import { checkLoadTime } from './rules-load-time.js'
import { validateMessage } from './validate-message.js'

export interface CheckOptions {
  /** Smallest acceptable ext_proc message_timeout, ms. */
  readonly minMessageTimeoutMs: number
  /** The policy relies on peer (SPIFFE) identity. */
  readonly peerIdentity: boolean
  /** The processor takes identity from x-forwarded-client-cert. */
  readonly xfcc: boolean
  /** Headers the processor sets upstream (default: x-spiffe-id, x-runner-session-id). */
  readonly identityHeaders?: readonly string[]
  /** The namespace the processor sends decision metadata under (--config); undefined: none/unknown. */
  readonly metadataNamespace?: string | undefined
}

const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap'

export { DEFAULT_MIN_MESSAGE_TIMEOUT_MS } from './defaults.js'

/** The config's defaults (src/config/schema.ts, identity.headers). */
const DEFAULT_IDENTITY_HEADERS = ['x-spiffe-id', 'x-runner-session-id']

/**
 * Rule ids whose findings are Envoy's own refusals: the API (proto-*) and its load-time checks
 * (envoy-*). Everything else is posture: configs Envoy loads that let requests around the
 * processor or break it in production.
 */
export function isStructural(rule: string): boolean {
  return rule.startsWith('proto-') || rule.startsWith('envoy-')
}

/** Strict structural validation against the Envoy API, Envoy's load-time checks, then posture. */
export function checkBootstrap(raw: unknown, options: CheckOptions): Finding[] {
  const findings = new Findings()
  if (raw === undefined || raw === null) {
    findings.error('', 'bootstrap-empty', 'the file is empty: not an Envoy bootstrap')
    return findings.list
  }
  if (!isObject(raw)) {
    findings.error('', 'bootstrap-empty', 'not an Envoy bootstrap: expected a mapping at the top')
    return findings.list
  }
  if (isResourceFile(raw)) {
    checkResourceFile(raw, findings)
    return findings.list
  }
  const doc = validateMessage(loadDescriptor(), BOOTSTRAP_TYPE, raw, findings)
  checkLoadTime(doc, findings)
  checkBypasses(doc, findings, {
    identityHeaders: options.identityHeaders ?? DEFAULT_IDENTITY_HEADERS,
  })
  checkExtProcFilters(doc, findings, options)
  checkListeners(doc, findings, options)
  checkClusters(doc, findings)
  return findings.list
}

/**
 * A file-based xDS resource file (what `path_config_source` points at, e.g. SDS secrets): a
 * DiscoveryResponse with `resources` and no bootstrap fields.
 */
function isResourceFile(raw: Json): boolean {
  return Array.isArray(raw.resources) && Object.keys(raw).every((k) => RESOURCE_FILE_KEYS.has(k))
}

const RESOURCE_FILE_KEYS = new Set(['resources', 'version_info', 'versionInfo'])

/** Each resource is checked as the type its @type names, as Envoy decodes it. */
function checkResourceFile(raw: Json, findings: Findings): void {
  const descriptor = loadDescriptor()
  for (const key of ['version_info', 'versionInfo']) {
    if (raw[key] !== undefined && typeof raw[key] !== 'string')
      findings.error(key, 'proto-type', `expected a string, got ${typeof raw[key]}`)
  }
  ;(raw.resources as unknown[]).forEach((resource, i) => {
    validateMessage(descriptor, 'google.protobuf.Any', resource, findings, `resources[${i}]`)
  })
}
