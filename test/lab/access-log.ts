// Envoy's access-log line as the shipped configs write it (envoy/*.yaml, json_format): one JSON
// object per request. The authz_* fields are the processor's decision metadata
// (%DYNAMIC_METADATA(extproc_authz:...)%); Envoy writes null for a key the request lacks.

export interface AuthzFields {
  readonly decision: string | null
  readonly reason: string | null
  readonly rule: string | null
  readonly peer: string | null
  readonly identitySource: string | null
  readonly session: string | null
}

export interface AccessLogEntry {
  readonly status: unknown
  readonly details: string
  readonly path: string
  readonly authz: AuthzFields
  /** Every field as Envoy wrote it. */
  readonly raw: Readonly<Record<string, unknown>>
}

/** The authz_* keys every shipped access-log format carries. */
export const AUTHZ_LOG_KEYS = [
  'authz_decision',
  'authz_reason',
  'authz_rule',
  'authz_peer',
  'authz_identity_source',
  'authz_session',
] as const

function stringOrNull(raw: Readonly<Record<string, unknown>>, key: string): string | null {
  const v = raw[key]
  if (v === null || typeof v === 'string') return v
  throw new Error(`access log: ${key} is ${JSON.stringify(v)}, expected a string or null`)
}

/** One access-log line as the lab reads it; throws when it lacks a field the shipped format writes. */
export function accessLogEntry(raw: Readonly<Record<string, unknown>>): AccessLogEntry {
  for (const key of AUTHZ_LOG_KEYS) {
    if (!(key in raw))
      throw new Error(`access log: no ${key} in ${JSON.stringify(raw).slice(0, 300)}`)
  }
  return {
    status: raw.status,
    details: String(raw.details),
    path: String(raw.path),
    authz: {
      decision: stringOrNull(raw, 'authz_decision'),
      reason: stringOrNull(raw, 'authz_reason'),
      rule: stringOrNull(raw, 'authz_rule'),
      peer: stringOrNull(raw, 'authz_peer'),
      identitySource: stringOrNull(raw, 'authz_identity_source'),
      session: stringOrNull(raw, 'authz_session'),
    },
    raw,
  }
}

export function parseAccessLogLine(line: string): AccessLogEntry {
  return accessLogEntry(JSON.parse(line) as Record<string, unknown>)
}
