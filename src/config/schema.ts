import { z } from 'zod'
import { HOST_PATTERN_HELP, parseHostPattern } from '../authz/authority.js'
import type { ConditionKind } from '../authz/condition-kind.js'
import { compilePathTemplate, PathTemplateError } from '../authz/path-template.js'
import { spiffeCondition } from '../authz/spiffe-condition.js'
import { MAX_OWNED_HEADER_SEPARATORS, separatorCount } from '../extproc/header-spellings.js'
import { SessionRegistrySchema } from '../liveness/config-schema.js'
import { LISTEN_EXPECTED, LISTEN_PATTERN } from '../shared/listen-address.js'
import { RunnerTokensSchema } from '../tokens/config-schema.js'
import { runnerTokenCondition } from '../tokens/runner-token-condition.js'

// The config file's one source of truth: runtime validation, the published JSON Schema
// (schema/config.schema.json) and the config reference are all derived from these definitions.

// A closed list rather than any token: a typo in a deny rule's methods (DELTE) would otherwise
// load and never match. Each is an upper-case RFC 9110 token, the grammar requests must meet
// (isRequestMethod; a unit test checks the list against it).
export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
] as const

/** Validated by the same parser the listeners use: a port above 65535 is refused here. */
const listenAddress = z.string().regex(LISTEN_PATTERN, `expected ${LISTEN_EXPECTED}`)

const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'expected a lower-case HTTP header name')
  .max(128)

/** A header the service owns: every '-'/'_' spelling of it is removed (2^n names for n of them). */
const ownedHeaderName = headerName.refine(
  (name) => separatorCount(name) <= MAX_OWNED_HEADER_SEPARATORS,
  `at most ${MAX_OWNED_HEADER_SEPARATORS} '-' or '_' (every spelling of an owned header is removed)`,
)

/** The policy condition kinds, in the order an alternative's keys are documented. */
export const CONDITION_KINDS = [spiffeCondition, runnerTokenCondition] as const

/** The same list, seen as plain kinds (compilePolicy, and the checks below). */
const KINDS: readonly ConditionKind[] = CONDITION_KINDS

type AlternativeShape<K extends readonly ConditionKind[]> = {
  [P in K[number] as P['name']]: z.ZodOptional<P['schema']>
}

function alternativeShape<K extends readonly ConditionKind[]>(kinds: K): AlternativeShape<K> {
  return Object.fromEntries(kinds.map((k) => [k.name, k.schema.optional()])) as AlternativeShape<K>
}

const AlternativeSchema = z
  .strictObject(alternativeShape(CONDITION_KINDS))
  .refine((a) => Object.values(a).some((v) => v !== undefined), {
    message: 'an alternative needs at least one condition',
  })
  .describe('All conditions of an alternative must hold (all-of).')

const RuleSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 characters of [A-Za-z0-9_.-]')
      .describe('Unique rule name: appears in decision logs and metrics.'),
    methods: z
      .array(z.enum(HTTP_METHODS))
      .min(1)
      .optional()
      .describe('HTTP methods this rule matches; omitted means any method.'),
    path: z
      .string()
      .describe(
        'Path template: literal segments, {name} (one segment, captured), * (one segment), ' +
          '** (any rest, last only). The query string is ignored; one trailing slash in a ' +
          'request is not significant (docs/policy.md).',
      )
      .superRefine((value, ctx) => {
        try {
          compilePathTemplate(value)
        } catch (err) {
          if (!(err instanceof PathTemplateError)) throw err
          ctx.addIssue({ code: 'custom', message: err.message })
        }
      }),
    hosts: z
      .array(
        z.string().superRefine((value, ctx) => {
          if (parseHostPattern(value) === undefined) {
            ctx.addIssue({ code: 'custom', message: HOST_PATTERN_HELP })
          }
        }),
      )
      .min(1)
      .optional()
      .describe(
        'Hosts (:authority without port), compared case-insensitively, a trailing dot ignored; ' +
          '"*.example.com" matches any subdomain.',
      ),
    public: z.literal(true).optional().describe('Allow without any credential.'),
    deny: z.literal(true).optional().describe('Deny matching requests (carve-outs).'),
    any_of: z
      .array(AlternativeSchema)
      .min(1)
      .optional()
      .describe('Alternatives: the request is allowed if any one of them holds.'),
  })
  .superRefine((rule, ctx) => {
    const effects = [rule.public, rule.deny, rule.any_of].filter((e) => e !== undefined).length
    if (effects !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'a rule needs exactly one of public: true, deny: true or any_of',
      })
    }
    let params: readonly string[] = []
    try {
      params = compilePathTemplate(rule.path).params
    } catch {
      return // reported on `path`
    }
    rule.any_of?.forEach((alt, j) => {
      for (const kind of KINDS) {
        const value = (alt as Readonly<Record<string, unknown>>)[kind.name]
        if (value === undefined || kind.checkInRule === undefined) continue
        const problem = kind.checkInRule(value, { path: rule.path, params })
        if (problem === undefined) continue
        ctx.addIssue({
          code: 'custom',
          path: ['any_of', j, kind.name, ...problem.path],
          message: problem.message,
        })
      }
    })
  })
  .describe('A policy rule. Rules are tried in order; the first whose match fits decides.')

const PolicySchema = z
  .strictObject({
    rules: z.array(RuleSchema).describe('Ordered rules. No matching rule means deny.'),
  })
  .superRefine((policy, ctx) => {
    const seen = new Map<string, number>()
    policy.rules.forEach((rule, i) => {
      const first = seen.get(rule.name)
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'name'],
          message: `duplicate rule name "${rule.name}" (first used by rules[${first}])`,
        })
      } else seen.set(rule.name, i)
    })
  })

const decisionLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
const sampleRate = z.number().min(0).max(1)

const DecisionLogSchema = z
  .strictObject({
    allow_level: decisionLevel.default('info').describe('Level of the line for an allow.'),
    deny_level: decisionLevel.default('warn').describe('Level of the line for a deny.'),
    sample_allow: sampleRate
      .default(1)
      .describe(
        'Fraction of allows logged (0 to 1). Each decision is drawn at random: nothing a ' +
          'client sends (x-request-id included) decides whether its request is logged.',
      ),
    sample_deny: sampleRate.default(1).describe('Fraction of denies logged (0 to 1).'),
  })
  .prefault({})
  .describe(
    'One line per decision, at these levels, sampled: lower sample_allow at high request ' +
      'rates. Lines sampled out are counted (extproc_authz_decision_log_sampled_out_total).',
  )

const DecisionMetadataSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Send the decision as dynamic metadata on every answer. Envoy drops it unless the ' +
          'namespace is listed in the ext_proc filter metadata_options.receiving_namespaces.untyped ' +
          '(the shipped envoy/*.yaml list extproc_authz). Off: nothing is built or sent.',
      ),
    namespace: z
      .string()
      .regex(
        /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/,
        'expected 1-64 characters of [A-Za-z0-9_.-] (":" would split %DYNAMIC_METADATA(ns:key)%)',
      )
      .refine((ns) => !ns.startsWith('envoy.'), "the envoy.* namespaces are Envoy's own")
      .default('extproc_authz')
      .describe('The metadata namespace (the Struct key Envoy files the fields under).'),
    request_id: z
      .boolean()
      .default(false)
      .describe(
        'Also send x-request-id (key request_id). Envoy has it already (%REQ(X-REQUEST-ID)%); ' +
          'with it every answer is built per request instead of reused (measured: ~8% fewer ' +
          'streams per CPU-second).',
      ),
  })
  .prefault({})
  .describe(
    'Decisions as Envoy dynamic metadata, keys decision, reason, rule, identity_source, peer, ' +
      'trust_domain, session_hash (and request_id) (docs/production-envoy.md): for access logs, ' +
      'rate-limit descriptors and RBAC. Never a session id or a token.',
  )

export const ConfigSchema = z
  .strictObject({
    listen: listenAddress
      .default('127.0.0.1:50051')
      .describe('gRPC listen address (host:port). Port 0 picks a free port.'),
    transport: z
      .enum(['http2', 'grpc-js'])
      .default('http2')
      .describe(
        'Which transport serves Process and grpc.health.v1 on `listen` (only that one is ' +
          'built). http2: a lean gRPC framing on node:http2, 1.3-2x the streams per core of ' +
          "grpc-js (docs/benchmarks.md), and the one that lifts nghttp2's stream-reset limit " +
          '(Node 22.10+). grpc-js: @grpc/grpc-js, a reference and fallback with the same peer ' +
          'check and health; it keeps the reset limit, so an Envoy connection above ~33 ' +
          'requests/s is dropped and re-made (docs/transports.md).',
      ),
    workers: z
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        'Processes serving on the shared listen socket (node:cluster, connections handed out ' +
          'round-robin). Balancing is per connection: Envoy opens one per worker thread, so ' +
          'more workers than Envoy connections stay idle. 1 = this process only.',
      ),
    tls: z
      .strictObject({
        cert_file: z
          .string()
          .min(1)
          .optional()
          .describe('PEM serving certificate (X.509-SVID), leaf first (file source).'),
        key_file: z.string().min(1).optional().describe('PEM private key matching cert_file.'),
        workload_api: z
          .strictObject({
            socket: z
              .string()
              .regex(/^(unix:\/\/\/|tcp:\/\/)/, 'expected unix:///path or tcp://ip:port')
              .optional()
              .describe('Agent socket; default: the SPIFFE_ENDPOINT_SOCKET environment variable.'),
            start_timeout_seconds: z
              .int()
              .min(1)
              .max(600)
              .default(30)
              .describe(
                'Start (and config check) fails, exit 1, if no usable SVID arrives within this.',
              ),
          })
          .optional()
          .describe(
            'Take the serving SVID and bundles from the SPIFFE Workload API (FetchX509SVID), ' +
              'rotating on every update, instead of cert_file/key_file/bundles.',
          ),
        bundles: z
          .record(z.string().min(1), z.string().min(1))
          .refine((r) => Object.keys(r).length > 0, 'at least one trust bundle')
          .optional()
          .describe(
            'Trust domain -> PEM CA bundle file. A peer is verified only against the bundle of ' +
              'its own trust domain.',
          ),
        allowed_peers: z
          .array(z.string().min(1))
          .min(1)
          .describe(
            'Peers admitted: exact SPIFFE IDs (spiffe://td/path) and/or whole trust domains ' +
              '(example.org or spiffe://example.org).',
          ),
      })
      .superRefine((t, ctx) => {
        const files = [t.cert_file, t.key_file, t.bundles].filter((v) => v !== undefined).length
        if (t.workload_api !== undefined ? files > 0 : files !== 3) {
          ctx.addIssue({
            code: 'custom',
            message: 'set either cert_file, key_file and bundles, or workload_api',
          })
        }
      })
      .optional()
      .describe(
        'Channel mTLS (TLS 1.3, client certificate required, X.509-SVID checks). Without it the ' +
          'server is plaintext and warns at start.',
      ),
    identity: z
      .strictObject({
        xfcc: z
          .strictObject({
            enabled: z
              .boolean()
              .default(false)
              .describe(
                'Take the peer identity from x-forwarded-client-cert, which must hold exactly ' +
                  'one element with one URI (more elements: no identity). Only safe when Envoy ' +
                  'sanitizes it (forward_client_cert_details: SANITIZE_SET).',
              ),
          })
          .prefault({})
          .describe('The x-forwarded-client-cert header as the identity source.'),
      })
      .prefault({})
      .describe('Where the peer SPIFFE ID comes from.'),
    headers: z
      .strictObject({
        spiffe_id: ownedHeaderName
          .default('x-spiffe-id')
          .describe('Set upstream to the verified peer SPIFFE ID.'),
        session_id: ownedHeaderName
          .default('x-runner-session-id')
          .describe('Set upstream to the verified runner session id.'),
        strip: z
          .array(ownedHeaderName)
          .default([])
          .describe('More client-sent headers to remove on every allowed request.'),
        strip_authorization: z
          .boolean()
          .optional()
          .describe(
            'Remove the Authorization header from every allowed request before it goes ' +
              'upstream (public, SPIFFE and runner-token routes alike). Default true.',
          ),
      })
      .prefault({})
      .describe(
        'Identity headers the service owns: client-sent copies are always removed, in every ' +
          "'-'/'_' spelling (x_spiffe_id as well as x-spiffe-id).",
      ),
    limits: z
      .strictObject({
        max_headers: z
          .int()
          .min(8)
          .max(10_000)
          .default(256)
          .describe('Header fields read from one request (Envoy defaults to 100).'),
        max_header_bytes: z
          .int()
          .min(1024)
          .max(1_048_576)
          .default(96 * 1024)
          .describe('Bytes of header names and values read (Envoy defaults to 60 KiB).'),
        max_streams: z
          .int()
          .min(1)
          .max(1_000_000)
          .default(10_000)
          .describe(
            'Process streams admitted and not yet answered; more are answered 503 overloaded ' +
              'at once, without a decision and without taking a slot. A stream gives its slot ' +
              'back with its answer (an allowed stream stays open for the whole request).',
          ),
        stream_idle_timeout_ms: z
          .int()
          .min(10)
          .max(600_000)
          .default(10_000)
          .describe(
            'A stream that sends no request_headers this long is answered 408 and closed. Not ' +
              'applied after the decision: Envoy holds the stream for the whole HTTP request.',
          ),
      })
      .prefault({})
      .describe('Bounds on one request, checked before any other work.'),
    admin: z
      .strictObject({
        listen: listenAddress
          .optional()
          .describe(
            'Admin HTTP address for /metrics (Prometheus), /healthz and /readyz. Omitted: no ' +
              'admin server. Keep it off the network Envoy clients can reach.',
          ),
      })
      .prefault({})
      .describe('Metrics and probes.'),
    shutdown: z
      .strictObject({
        drain_seconds: z
          .number()
          .min(0)
          .max(600)
          .default(5)
          .describe(
            'On SIGTERM/SIGINT, health reports NOT_SERVING and streams are still served this ' +
              'long (longer than Envoy health-check interval x unhealthy threshold) before closing.',
          ),
        grace_seconds: z
          .number()
          .min(0)
          .max(600)
          .default(10)
          .describe(
            'After the drain, open streams get this long to finish. A second signal exits at once.',
          ),
      })
      .prefault({})
      .describe('Graceful shutdown.'),
    logging: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .describe('Log level. Decision lines use the levels in logging.decisions.'),
        hash_key_file: z
          .string()
          .min(1)
          .optional()
          .describe(
            'File holding the key (at least 32 bytes, e.g. `openssl rand -base64 48`) of the ' +
              'HMAC-SHA-256 that hashes session ids and path captures in logs. Share it between ' +
              'all instances so hashes correlate across workers, instances and restarts; keep ' +
              'it as secret as a token key. Re-read when its content changes. Omitted: a random ' +
              'key per start (hashes correlate across workers, not across restarts).',
          ),
        decisions: DecisionLogSchema,
      })
      .prefault({})
      .describe('Applied on reload too (level, hash_key_file, decisions).'),
    decision_metadata: DecisionMetadataSchema,
    runner_tokens: RunnerTokensSchema.optional(),
    session_registry: SessionRegistrySchema.optional(),
    policy: PolicySchema.describe('The authorization policy: ordered rules, default deny.'),
  })
  .superRefine((config, ctx) => {
    const legacy = config.runner_tokens?.strip_authorization
    const strip = config.headers.strip_authorization
    if (legacy !== undefined && strip !== undefined && legacy !== strip) {
      ctx.addIssue({
        code: 'custom',
        path: ['runner_tokens', 'strip_authorization'],
        message:
          'contradicts headers.strip_authorization: runner_tokens.strip_authorization is the ' +
          'old spelling of headers.strip_authorization (every allow); keep only that one',
      })
    }
    if (config.runner_tokens === undefined && config.session_registry !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['session_registry'],
        message:
          'a session registry checks runner-token sessions: it needs a runner_tokens section',
      })
    }
    // A condition whose credential is built from a config section needs that section.
    const sections = config as Readonly<Record<string, unknown>>
    config.policy.rules.forEach((rule, i) => {
      rule.any_of?.forEach((alt, j) => {
        for (const kind of KINDS) {
          const needs = kind.credentialSection
          if (needs === undefined || sections[needs.key] !== undefined) continue
          if ((alt as Readonly<Record<string, unknown>>)[kind.name] === undefined) continue
          ctx.addIssue({
            code: 'custom',
            path: ['policy', 'rules', i, 'any_of', j, kind.name],
            message: needs.message,
          })
        }
      })
    })
  })
  .describe('extproc-authz configuration')

/**
 * Keys that existed once and were removed on purpose: a config that still sets one is refused
 * with what replaced it, instead of "unknown key".
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'logging.plain_session_ids':
    'removed: session ids are never logged in clear; logs carry their keyed hash ' +
    '(HMAC-SHA-256 under logging.hash_key_file). Delete this key',
}

export type Config = z.output<typeof ConfigSchema>
export type RuleConfig = z.output<typeof RuleSchema>
export type AlternativeConfig = z.output<typeof AlternativeSchema>
export type PolicyConfig = z.output<typeof PolicySchema>
