import { PEER_URI_SAN_ATTRIBUTE } from '../extproc/build-request-facts.js'
import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import { checkPerRoute } from './rules-per-route.js'
import {
  DOWNSTREAM_TLS,
  EXT_PROC,
  type HcmSite,
  hcmSites,
  isObject,
  type Json,
  objects,
  pathIn,
} from './walk-bootstrap.js'

interface ListenerRuleOptions {
  /** The policy has spiffe conditions (or no --config said otherwise): peer certificates matter. */
  readonly peerIdentity: boolean
  /** The processor reads identity from x-forwarded-client-cert. */
  readonly xfcc: boolean
}

/** XFCC values under which the header reaching the processor was written by this Envoy. */
const SANITIZING = new Set<unknown>(['SANITIZE', 'SANITIZE_SET', 0, 3])

/** Rules on each listener / HTTP connection manager that runs ext_proc. */
export function checkListeners(
  doc: Normalized,
  findings: Findings,
  options: ListenerRuleOptions,
): void {
  for (const site of hcmSites(doc.value)) {
    checkDiscovered(doc, site, findings)
    if (site.extProcFilters.length === 0) continue
    for (const filter of site.extProcFilters) {
      if (filter.disabled === true) {
        findings.error(
          pathIn(doc, filter, 'disabled'),
          'ext-proc-disabled',
          `http filter '${String(filter.name)}' is disabled by default: only routes that enable it are authorized`,
        )
      }
    }
    if (options.peerIdentity) checkClientCertificates(doc, site, findings)
    if (options.peerIdentity && !options.xfcc) checkPeerAttribute(doc, site, findings)
    if (options.xfcc) checkXfcc(doc, site, findings)
    checkPerRoute(doc, site, findings)
  }
}

function checkClientCertificates(doc: Normalized, site: HcmSite, findings: Findings): void {
  const socket = site.chain.transport_socket
  const tls = isObject(socket) && isObject(socket.typed_config) ? socket.typed_config : undefined
  const listener = String(site.listener.name ?? '(unnamed)')
  if (tls === undefined || tls['@type'] !== DOWNSTREAM_TLS) {
    findings.warning(
      pathIn(doc, site.chain),
      'listener-client-cert',
      `listener '${listener}' runs ext_proc without downstream TLS: no peer certificate, so no SPIFFE identity for the policy`,
    )
    return
  }
  if (tls.require_client_certificate !== true) {
    findings.warning(
      pathIn(doc, tls, 'require_client_certificate'),
      'listener-client-cert',
      `listener '${listener}' does not require client certificates: clients without an SVID reach the processor with no identity`,
    )
  }
}

function checkXfcc(doc: Normalized, site: HcmSite, findings: Findings): void {
  const mode = site.hcm.forward_client_cert_details
  if (mode === undefined || SANITIZING.has(mode)) return
  findings.error(
    pathIn(doc, site.hcm, 'forward_client_cert_details'),
    'xfcc-forward',
    `forward_client_cert_details ${String(mode)} passes a client-supplied x-forwarded-client-cert to the processor, which takes identity from it: use SANITIZE_SET`,
  )
}

/** Without the attribute the processor sees no peer SPIFFE ID: every spiffe rule denies. */
function checkPeerAttribute(doc: Normalized, site: HcmSite, findings: Findings): void {
  for (const filter of site.extProcFilters) {
    const config = filter.typed_config as Json
    const attributes = Array.isArray(config.request_attributes) ? config.request_attributes : []
    if (attributes.includes(PEER_URI_SAN_ATTRIBUTE)) continue
    findings.warning(
      pathIn(doc, config, 'request_attributes'),
      'ext-proc-peer-attribute',
      `request_attributes lacks ${PEER_URI_SAN_ATTRIBUTE}: the processor gets no peer SPIFFE ID, so every spiffe rule denies`,
    )
  }
}

/** Config that arrives over xDS (ECDS, RDS) is out of reach: say so rather than pass silently. */
function checkDiscovered(doc: Normalized, site: HcmSite, findings: Findings): void {
  for (const filter of objects(site.hcm.http_filters)) {
    const discovery = isObject(filter.config_discovery) ? filter.config_discovery : undefined
    const urls = Array.isArray(discovery?.type_urls) ? discovery.type_urls : []
    if (urls.some((u) => typeof u === 'string' && u.endsWith(`/${EXT_PROC}`))) {
      findings.warning(
        pathIn(doc, filter, 'config_discovery'),
        'ext-proc-not-checked',
        `ext_proc filter '${String(filter.name)}' gets its config over ECDS: check-envoy cannot check it`,
      )
    }
  }
  if (site.extProcFilters.length > 0 && site.hcm.rds !== undefined) {
    findings.warning(
      pathIn(doc, site.hcm, 'rds'),
      'ext-proc-not-checked',
      'routes come over RDS: per-route settings that disable ext_proc cannot be checked here',
    )
  }
}
