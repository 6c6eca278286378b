import { isIP } from 'node:net'
import type { PeerCertificate } from 'node:tls'
import { parseArgs } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import { PEER_URI_SAN_ATTRIBUTE } from '../extproc/build-request-facts.js'
import { parseSpiffeId } from '../identity/spiffe-id.js'
import { x509 } from '../pki/x509.js'
import {
  allowMutation,
  ExternalProcessorClient,
  exchange,
  httpStatus,
  requestHeaders,
} from '../probe/extproc-client.js'
import { AuthzError, EXIT_OK } from '../shared/errors.js'
import { shortGrpcDetails } from '../shared/grpc-details.js'
import { parseListenAddress } from '../shared/listen-address.js'
import { createRunnerJwe, createRunnerToken } from '../tokens/runner.js'
import { UsageError } from './command.js'
import { readCertificatesPem, readPrivateKeyPem, readPublicKey } from './read-input.js'

/** The request was answered with a deny (0 is an allow; 1 and 2 as for every command). */
const EXIT_DENIED = 3
const DEFAULT_TARGET = '127.0.0.1:50051'
const DEFAULT_TIMEOUT_MS = 5000
const MAX_TIMEOUT_MS = 600_000
/** Envoy's ext_proc details prefix for our denies (src/extproc/respond.ts). */
const DETAILS_PREFIX = 'extproc_authz_'
/** A JWE made by the probe is for one request: an hour is plenty. */
const JWE_TTL_SECONDS = 3600

const OPTIONS = {
  target: { type: 'string', short: 't', default: DEFAULT_TARGET },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-id': { type: 'string' },
  timeout: { type: 'string' },
  method: { type: 'string', short: 'X', default: 'GET' },
  path: { type: 'string', short: 'p' },
  host: { type: 'string', default: 'localhost' },
  header: { type: 'string', short: 'H', multiple: true },
  peer: { type: 'string' },
  xfcc: { type: 'boolean', default: false },
  bearer: { type: 'string' },
  'token-session': { type: 'string' },
  'public-key': { type: 'string' },
  jwe: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values']

type ProbeResult =
  | {
      readonly decision: 'allow'
      readonly set_headers: Record<string, string>
      readonly remove_headers: readonly string[]
    }
  | {
      readonly decision: 'deny'
      readonly status: number
      readonly reason: string
      readonly details: string
      readonly body: string
      readonly grpc_status?: number
    }

function header(text: string): [string, string] {
  const i = text.indexOf(':', text.startsWith(':') ? 1 : 0)
  const name = i === -1 ? '' : text.slice(0, i).trim().toLowerCase()
  if (name === '' || /\s/.test(name)) {
    throw new UsageError(`expected 'name: value', found ${JSON.stringify(text)}`, {
      flag: '--header',
    })
  }
  return [name, text.slice(i + 1).trim()]
}

function timeoutMs(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS
  const ms = /^\d{1,7}$/.test(text) ? Number(text) : Number.NaN
  if (!(ms >= 1 && ms <= MAX_TIMEOUT_MS)) {
    throw new UsageError(`expected milliseconds from 1 to ${MAX_TIMEOUT_MS}, found "${text}"`, {
      flag: '--timeout',
    })
  }
  return ms
}

function target(text: string): string {
  const address = parseListenAddress(text)
  if (address === undefined || address.port === 0) {
    throw new UsageError(`expected host:port with a port from 1 to 65535, found "${text}"`, {
      flag: '--target',
    })
  }
  return text
}

/** The URI SANs of a certificate, read from its DER (never by splitting Node's text). */
function uriSans(cert: PeerCertificate): string[] {
  const ext = new x509.X509Certificate(cert.raw).getExtension(x509.SubjectAlternativeNameExtension)
  return ext?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? []
}

/**
 * mTLS as Envoy does it toward the processor: the chain must lead to --ca; the host name is not
 * checked (SVIDs name workloads, not hosts), the SPIFFE ID is when --server-id is given.
 */
async function channelCredentials(values: Values): Promise<grpc.ChannelCredentials> {
  const { ca, cert, key } = values
  const serverId = values['server-id']
  if (ca === undefined && cert === undefined && key === undefined) {
    if (serverId !== undefined)
      throw new UsageError('needs --ca, --cert and --key', { flag: '--server-id' })
    return grpc.credentials.createInsecure()
  }
  if (ca === undefined || cert === undefined || key === undefined) {
    const missing = [
      ca === undefined ? '--ca' : undefined,
      cert === undefined ? '--cert' : undefined,
      key === undefined ? '--key' : undefined,
    ].filter((f): f is string => f !== undefined)
    throw new UsageError(`mTLS needs --ca, --cert and --key; missing ${missing.join(', ')}`, {
      hint: 'the processor requires a client certificate',
    })
  }
  if (serverId !== undefined) {
    const parsed = parseSpiffeId(serverId)
    if (!parsed.ok)
      throw new UsageError(`invalid SPIFFE ID: ${parsed.error}`, { flag: '--server-id' })
  }
  const [caPem, certPem, keyPem] = await Promise.all([
    readCertificatesPem(ca, '--ca'),
    readCertificatesPem(cert, '--cert'),
    readPrivateKeyPem(key, '--key'),
  ])
  return grpc.credentials.createSsl(caPem, keyPem, certPem, {
    checkServerIdentity: (_host, peer) => {
      if (serverId === undefined) return undefined
      const ids = uriSans(peer)
      return ids.length === 1 && ids[0] === serverId
        ? undefined
        : new AuthzError(
            'ERR_PROBE_SERVER_ID_MISMATCH',
            `the processor's certificate names ${ids.join(', ') || 'no SPIFFE ID'}, not ${serverId}`,
          )
    },
  })
}

/**
 * TLS SNI carries host names only (RFC 6066) and the processor ignores it: for an IP target,
 * name "localhost" rather than have Node warn about an IP address as the server name.
 */
function channelOptions(values: Values): grpc.ChannelOptions {
  const host = parseListenAddress(values.target)?.host ?? ''
  const ip = isIP(host) !== 0
  return values.ca !== undefined && ip ? { 'grpc.ssl_target_name_override': 'localhost' } : {}
}

async function bearerToken(values: Values): Promise<string | undefined> {
  const session = values['token-session']
  const keyFile = values['public-key']
  if (values.bearer !== undefined && session !== undefined) {
    throw new UsageError('give --bearer or --token-session, not both', { flag: '--bearer' })
  }
  if (session === undefined) {
    if (keyFile !== undefined)
      throw new UsageError('needs --token-session', { flag: '--public-key' })
    if (values.jwe) throw new UsageError('needs --token-session', { flag: '--jwe' })
    return values.bearer
  }
  if (keyFile === undefined)
    throw new UsageError('needs --public-key FILE', { flag: '--token-session' })
  const key = await readPublicKey(keyFile, '--public-key')
  return values.jwe
    ? createRunnerJwe(key, session, { ttlSeconds: JWE_TTL_SECONDS })
    : createRunnerToken(key, session)
}

/** Sends one request as Envoy would and reads the decision. */
async function probe(values: Values): Promise<ProbeResult> {
  if (values.path === undefined || values.path === '') {
    throw new UsageError('required: the request path, e.g. /api/x', { flag: '--path' })
  }
  if (values.xfcc && values.peer === undefined)
    throw new UsageError('needs --peer', { flag: '--xfcc' })
  const address = target(values.target)
  const deadlineMs = timeoutMs(values.timeout)
  const extra = (values.header ?? []).map(header)
  const credentials = await channelCredentials(values)
  const token = await bearerToken(values)
  const headers: Array<readonly [string, string]> = [
    [':method', values.method],
    [':scheme', 'https'],
    [':authority', values.host],
    [':path', values.path],
    ...extra,
  ]
  if (token !== undefined) headers.push(['authorization', `Bearer ${token}`])
  const peer = values.peer
  if (peer !== undefined && values.xfcc) headers.push(['x-forwarded-client-cert', `URI=${peer}`])
  const attributes =
    peer !== undefined && !values.xfcc ? { [PEER_URI_SAN_ATTRIBUTE]: peer } : undefined

  const client = new ExternalProcessorClient(address, credentials, channelOptions(values))
  try {
    const { responses, status } = await exchange(
      client,
      [requestHeaders(headers, attributes === undefined ? {} : { attributes })],
      { deadlineMs },
    )
    const first = responses[0]
    if (first === undefined) throw noAnswer(address, status, deadlineMs)
    const ir = first.immediate_response
    if (ir) {
      const details = ir.details ?? ''
      return {
        decision: 'deny',
        status: httpStatus(ir.status?.code),
        reason: details.startsWith(DETAILS_PREFIX) ? details.slice(DETAILS_PREFIX.length) : details,
        details,
        body: Buffer.from(ir.body ?? Buffer.alloc(0)).toString('utf8'),
        ...(ir.grpc_status ? { grpc_status: ir.grpc_status.status ?? 0 } : {}),
      }
    }
    if (first.request_headers) {
      const m = allowMutation(first)
      return { decision: 'allow', set_headers: Object.fromEntries(m.set), remove_headers: m.remove }
    }
    throw new AuthzError(
      'ERR_PROBE_UNEXPECTED',
      `the processor at ${address} answered request_headers with ${Object.keys(first).join(', ') || 'an empty message'}`,
      { hint: 'is this an extproc-authz processor?' },
    )
  } finally {
    client.close()
  }
}

function noAnswer(address: string, status: grpc.StatusObject, deadlineMs: number): AuthzError {
  if (status.code === grpc.status.DEADLINE_EXCEEDED) {
    return new AuthzError(
      'ERR_PROBE_TIMEOUT',
      `no answer from ${address} within ${deadlineMs} ms`,
      {
        hint: 'is the processor running and the address right?',
      },
    )
  }
  if (
    status.code === grpc.status.UNAVAILABLE &&
    /refused by server|NGHTTP2_REFUSED_STREAM/i.test(status.details)
  ) {
    // The peer check closes a connection whose certificate is not in tls.allowed_peers. grpc-js
    // says so as "Stream refused by server" on Node 20, and on Node 24 as a write error with
    // NGHTTP2_REFUSED_STREAM (its write to the refused stream fails first).
    return new AuthzError(
      'ERR_PROBE_UNREACHABLE',
      `the processor at ${address} refused this client`,
      {
        hint: "it admits only its tls.allowed_peers: present Envoy's SVID with --cert and --key",
      },
    )
  }
  if (status.code === grpc.status.UNAVAILABLE) {
    return new AuthzError(
      'ERR_PROBE_UNREACHABLE',
      `cannot reach the processor at ${address} (${shortGrpcDetails(status.details)})`,
      { hint: "is it running? 'make run' starts one; else check --target and the TLS flags" },
    )
  }
  return new AuthzError(
    'ERR_PROBE_FAILED',
    `the processor at ${address} ended the stream with ${grpc.status[status.code] ?? status.code}: ${status.details}`,
  )
}

function show(r: ProbeResult): string {
  if (r.decision === 'allow') {
    const set = Object.entries(r.set_headers).map(([k, v]) => `  set    ${k}: ${v}`)
    const remove = r.remove_headers.length > 0 ? [`  remove ${r.remove_headers.join(', ')}`] : []
    return ['allow', ...set, ...remove].join('\n')
  }
  const grpcStatus = r.grpc_status === undefined ? '' : ` (grpc-status ${r.grpc_status})`
  return `deny ${r.status} ${r.reason}${grpcStatus}\n  body   ${r.body}`
}

export async function run(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  })
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument '${positionals[0]}'`, {
      hint: 'give the path with --path',
    })
  }
  const result = await probe(values)
  process.stdout.write(
    values.json
      ? `${JSON.stringify({ ok: true, target: values.target, ...result }, null, 2)}\n`
      : `${show(result)}\n`,
  )
  return result.decision === 'allow' ? EXIT_OK : EXIT_DENIED
}
