import type { Findings } from './findings.js'
import type { Normalized } from './normalized.js'
import {
  DOWNSTREAM_TLS,
  findTyped,
  isObject,
  type Json,
  objects,
  pathIn,
  UPSTREAM_TLS,
} from './walk-bootstrap.js'

// Envoy's load-time refusals of TLS settings (envoy-* rules, like rules-load-time.ts).

export function checkTlsLoadTime(doc: Normalized, findings: Findings): void {
  checkTlsContexts(doc, findings)
  checkStaticSecrets(doc, findings)
}

function checkTlsContexts(doc: Normalized, findings: Findings): void {
  for (const tls of findTyped(doc.value, DOWNSTREAM_TLS)) {
    const common = isObject(tls.common_tls_context) ? tls.common_tls_context : {}
    const certificates =
      objects(common.tls_certificates).length > 0 ||
      objects(common.tls_certificate_sds_secret_configs).length > 0 ||
      common.tls_certificate_provider_instance !== undefined ||
      common.tls_certificate_certificate_provider_instance !== undefined ||
      common.custom_tls_certificate_selector !== undefined
    if (!certificates) {
      findings.error(
        pathIn(doc, tls, 'common_tls_context'),
        'envoy-downstream-tls-certificate',
        'downstream TLS without a certificate: "No TLS certificates found for server context"',
      )
    }
  }
  // A server certificate entry without a chain: "Server TlsCertificates must have a
  // certificate specified" (clients load an empty entry: they then present no certificate).
  for (const tls of findTyped(doc.value, DOWNSTREAM_TLS)) {
    const common = isObject(tls.common_tls_context) ? tls.common_tls_context : {}
    for (const certificate of objects(common.tls_certificates)) {
      if (certificate.certificate_chain !== undefined) continue
      findings.error(
        pathIn(doc, certificate),
        'envoy-tls-certificate-chain',
        'a server tls_certificates entry without certificate_chain: "Server TlsCertificates must have a certificate specified"',
      )
    }
  }
  // A client certificate entry that sets anything (a key) must set the chain too: "Failed to
  // load incomplete certificate from ...: certificate chain not set". An empty entry loads.
  for (const tls of findTyped(doc.value, UPSTREAM_TLS)) {
    const common = isObject(tls.common_tls_context) ? tls.common_tls_context : {}
    for (const certificate of objects(common.tls_certificates)) {
      if (certificate.certificate_chain !== undefined || Object.keys(certificate).length === 0)
        continue
      findings.error(
        pathIn(doc, certificate),
        'envoy-tls-certificate-chain',
        'a client tls_certificates entry without certificate_chain: "certificate chain not set"',
      )
    }
  }
  checkAlpn(doc, findings)
  // Every CommonTlsContext, downstream or upstream: SAN matchers need a CA to mean anything.
  for (const common of commonTlsContexts(doc.value)) {
    const validation = isObject(common.validation_context) ? common.validation_context : undefined
    if (validation === undefined) continue
    const sans = [
      ...objects(validation.match_typed_subject_alt_names),
      ...objects(validation.match_subject_alt_names),
    ]
    if (sans.length === 0) continue
    if (
      validation.trusted_ca !== undefined ||
      validation.ca_certificate_provider_instance !== undefined
    )
      continue
    findings.error(
      pathIn(doc, validation),
      'envoy-san-without-ca',
      'SAN matchers without trusted_ca: "SAN-based verification of peer certificates without trusted CA is insecure and not allowed"',
    )
  }
}

function commonTlsContexts(value: unknown, out: Json[] = []): Json[] {
  if (Array.isArray(value)) {
    for (const v of value) commonTlsContexts(v, out)
  } else if (isObject(value)) {
    if (isObject(value.common_tls_context)) out.push(value.common_tls_context)
    for (const v of Object.values(value)) commonTlsContexts(v, out)
  }
  return out
}

/** An SDS secret config without sds_config names a static secret: "Unknown static secret". */
function checkStaticSecrets(doc: Normalized, findings: Findings): void {
  const resources = isObject(doc.value.static_resources) ? doc.value.static_resources : {}
  const secrets = new Set(objects(resources.secrets).map((s) => s.name))
  for (const common of commonTlsContexts(doc.value)) {
    const configs = [
      ...objects(common.tls_certificate_sds_secret_configs),
      ...(isObject(common.validation_context_sds_secret_config)
        ? [common.validation_context_sds_secret_config]
        : []),
      ...(isObject(common.combined_validation_context) &&
      isObject(common.combined_validation_context.validation_context_sds_secret_config)
        ? [common.combined_validation_context.validation_context_sds_secret_config]
        : []),
    ]
    for (const config of configs) {
      if (config.sds_config !== undefined || secrets.has(config.name)) continue
      findings.error(
        pathIn(doc, config),
        'envoy-secret-unknown',
        `secret '${String(config.name ?? '')}' has no sds_config and is not in static_resources.secrets: "Unknown static secret"`,
      )
    }
  }
}

/** ALPN protocol names are at most 255 bytes (RFC 7301): "Invalid ALPN protocol string". */
function checkAlpn(doc: Normalized, findings: Findings): void {
  // TLS contexts only: Envoy loads a health check's tls_options.alpn_protocols unchecked.
  for (const owner of commonTlsContexts(doc.value)) {
    const list = Array.isArray(owner.alpn_protocols) ? owner.alpn_protocols : []
    list.forEach((name, i) => {
      if (typeof name !== 'string') return
      const bytes = Buffer.byteLength(name, 'utf8')
      // An empty name loads (Envoy skips it); an over-long one does not.
      if (bytes <= 255) return
      findings.error(
        `${pathIn(doc, owner, 'alpn_protocols')}[${i}]`,
        'envoy-alpn',
        `ALPN protocol names are at most 255 bytes, this one is ${bytes}: "Invalid ALPN protocol string"`,
      )
    })
  }
}
