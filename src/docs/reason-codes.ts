import { type DenyReason, REASONS } from '../authz/reasons.js'
import { tableCell, tableHeader } from '../shared/markdown-table.js'

/** Where the generated reason-code page lives in the repository. */
export const REASON_CODES_PATH = 'docs/reason-codes.md'

interface ReasonDoc {
  /** When the processor answers with this reason. */
  readonly when: string
  /** What an operator looks at or changes. */
  readonly fix: string
}

// Keyed by DenyReason: a reason added to REASONS without a line here does not compile, so the
// page cannot leave one out.
const REASON_DOCS: Record<DenyReason, ReasonDoc> = {
  no_matching_rule: {
    when: 'no rule matches the method, host and path (default deny)',
    fix: '`policy test CONFIG --path ... --method ...` shows which rule matches; add a rule, or check `hosts` (the :authority without port)',
  },
  rule_denies: {
    when: 'the first matching rule is a `deny: true` carve-out',
    fix: 'intended; move the carve-out if it shadows a broader allow',
  },
  identity_missing: {
    when: 'the rule needs a SPIFFE ID and there is none, or it fails the SPIFFE ID standard',
    fix: 'Envoy must list `connection.uri_san_peer_certificate` in the ext_proc `request_attributes` and require client certificates; with `identity.xfcc`, Envoy must set XFCC (`SANITIZE_SET`)',
  },
  identity_not_allowed: {
    when: "the SPIFFE ID matches none of the rule's alternatives",
    fix: 'the decision log line has the peer ID and the rule: add the ID, prefix or trust domain',
  },
  token_missing: {
    when: 'the rule needs a runner token and there is no `Authorization: Bearer` header',
    fix: 'the client sends no token, or something before Envoy strips it',
  },
  token_invalid: {
    when: 'the token does not decrypt: bad base64, wrong key, corrupted, oversize, non-UTF-8, another JWE algorithm (all look the same on purpose)',
    fix: '`token decrypt --private-key ... --token ...` on a copy; check the runner has the current public key (`keys public`) and `extproc_authz_token_key_reloads_total{result="failed"}`',
  },
  token_expired: {
    when: 'a JWE token past its `exp` (with `clock_tolerance_seconds`)',
    fix: 'the runner must mint a new token; check clocks',
  },
  session_id_invalid: {
    when: 'the decrypted session id fails `runner_tokens.session_id` (pattern, length)',
    fix: 'the runner encrypts something other than a session id',
  },
  session_mismatch: {
    when: "the token's session differs from the path's `session_param`",
    fix: 'a runner calling another session: intended deny',
  },
  session_not_live: {
    when: 'the session registry says the session is gone',
    fix: 'intended after a session ends; check the registry if the session should be live',
  },
  session_registry_unavailable: {
    when: 'the session registry cannot answer and no cached live answer is recent enough',
    fix: '`extproc_authz_session_registry_down`; the warning line names the error; `max_staleness` bounds how long cached answers count',
  },
  path_invalid: {
    when: 'a path parsers could read differently: dot segments, `//`, `;`, `#`, encoded `.` `/` `\\` `;` `%` or unreserved characters, malformed `%`, invalid or overlong UTF-8, encoded characters whose NFKC form is ASCII (fullwidth `．`), backslashes, control or raw non-ASCII bytes, over 8 KiB ([policy](policy.md#paths))',
    fix: "Envoy's `normalize_path` and `merge_slashes` (the shipped envoy.yaml sets them) remove most; the client sends an ambiguous path",
  },
  method_invalid: {
    when: 'a method that is not 1-32 upper-case RFC 9110 token characters (`delete`, `Get`, `GET `)',
    fix: 'the client sends a lower-case or malformed method; methods are case-sensitive ([policy](policy.md#methods))',
  },
  authority_invalid: {
    when: '`:authority` missing or not `host[:port]`: userinfo (`x@host`), a non-digit or out-of-range port, empty labels, IPv4 shorthands, percent-encoding',
    fix: 'the client sends a malformed Host/`:authority` ([policy](policy.md#hosts))',
  },
  request_malformed: {
    when: 'an undecodable message, no `:method`/`:path`, or `:method`, `:path` or `:authority` sent twice',
    fix: 'not from a real Envoy: check what connects to the processor',
  },
  headers_too_large: {
    when: 'more header fields or bytes than `limits` allow',
    fix: "raise `limits.max_headers` / `max_header_bytes` if legitimate; keep them at or above Envoy's own limits",
  },
  stream_idle_timeout: {
    when: 'no request_headers within `limits.stream_idle_timeout_ms` (slowloris bound)',
    fix: "a client of the processor that opens streams and sends nothing; not Envoy's normal behaviour",
  },
  overloaded: {
    when: 'more than `limits.max_streams` admitted streams not yet answered, or the decryption queue is full',
    fix: '`extproc_authz_active_streams`, `extproc_authz_token_overloaded_total`: add workers or replicas ([benchmarks.md](benchmarks.md) "Sizing"), or raise `runner_tokens.max_pending_decryptions`',
  },
  not_ready: {
    when: 'no configuration loaded yet',
    fix: 'only during start; Envoy should not route here before `/readyz` and gRPC health say SERVING',
  },
  protocol_error: {
    when: 'a phase arrived before request_headers (the processor never saw the request)',
    fix: "Envoy's `processing_mode` must send request headers (the shipped envoy.yaml does)",
  },
  internal_error: {
    when: 'any unexpected error inside the processor',
    fix: 'the error-level log line at the same time has the cause; report it',
  },
}

/** The reason-code page: REASONS (status, message) joined with when and what to do. */
export function renderReasonCodes(): string {
  const out = [
    '# Deny reason codes',
    '',
    '<!-- Generated by `make schema` from src/authz/reasons.ts and src/docs/reason-codes.ts. Do',
    '     not edit: change them, then run `make schema`. -->',
    '',
    'Every deny carries one stable reason code. The client gets the status and a JSON body',
    '`{"error":"<message>","reason":"<code>","request_id":"…"}`; Envoy\'s',
    '`%RESPONSE_CODE_DETAILS%` shows `extproc_authz_<code>`; the decision log line and',
    '`extproc_authz_decisions_total{decision,reason,rule}` carry the code with the detail (which',
    'rule, which identity) that the client never sees. Every way a token fails to decrypt gives',
    'the same `token_invalid` answer, byte for byte.',
    '',
    ...tableHeader(['reason', 'status', 'message', 'when', 'what to look at']),
  ]
  for (const [code, spec] of Object.entries(REASONS) as Array<
    [DenyReason, (typeof REASONS)[DenyReason]]
  >) {
    const doc = REASON_DOCS[code]
    out.push(
      `| \`${code}\` | ${spec.status} | ${spec.message} | ${tableCell(doc.when)} | ${tableCell(doc.fix)} |`,
    )
  }
  return `${out.join('\n')}\n`
}
