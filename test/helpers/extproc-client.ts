import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { ProcessingRequest } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import type { ProcessingResponse__Output } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingResponse.js'

// The test client encodes and decodes with proto-loader (protobufjs) from the buf-built
// descriptor set: a codec independent of the server's own, so each checks the other.
const DESCRIPTOR = new URL('../../proto/extproc-authz.binpb', import.meta.url)

const packageDefinition = protoLoader.loadFileDescriptorSetFromBuffer(readFileSync(DESCRIPTOR), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
})
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } }
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } }
}

export const ExternalProcessorClient = loaded.envoy.service.ext_proc.v3.ExternalProcessor
export const HealthClient = loaded.grpc.health.v1.Health

export function newClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): grpc.Client {
  return new ExternalProcessorClient(`127.0.0.1:${port}`, credentials, options)
}

export type Headers = ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string>>

export interface HeaderOptions {
  /** Put values in the old `value` field instead of `raw_value` (older Envoy). */
  readonly legacyValue?: boolean
  readonly attributes?: Readonly<Record<string, string | boolean | number>>
  readonly endOfStream?: boolean
  /**
   * Send the headers exactly as given. By default a request without `:authority` gets
   * DEFAULT_AUTHORITY, as Envoy always sends one (an HTTP/1 Host header becomes it; a request
   * with neither is refused before the filter chain); the processor refuses a request without.
   */
  readonly exactHeaders?: boolean
}

/** The `:authority` requestHeaders adds when a test gives none; no test policy lists it. */
export const DEFAULT_AUTHORITY = 'default-authority.test'

function entries(h: Headers): Array<readonly [string, string]> {
  return Array.isArray(h) ? [...h] : Object.entries(h)
}

/**
 * A request_headers ProcessingRequest as Envoy sends it: values in raw_value, attributes in
 * the map under "envoy.filters.http.ext_proc". From a descriptor set, proto-loader represents
 * map fields as lists of {key, value} entries.
 */
export function requestHeaders(h: Headers, opts: HeaderOptions = {}): ProcessingRequest {
  const given = entries(h)
  if (!opts.exactHeaders && !given.some(([key]) => key === ':authority')) {
    given.push([':authority', DEFAULT_AUTHORITY])
  }
  const headers = given.map(([key, value]) =>
    opts.legacyValue ? { key, value } : { key, raw_value: Buffer.from(value, 'latin1') },
  )
  const msg: Record<string, unknown> = {
    request_headers: { headers: { headers }, end_of_stream: opts.endOfStream ?? true },
  }
  if (opts.attributes) {
    const fields = Object.entries(opts.attributes).map(([key, v]) => ({
      key,
      value:
        typeof v === 'string'
          ? { string_value: v }
          : typeof v === 'boolean'
            ? { bool_value: v }
            : { number_value: v },
    }))
    msg.attributes = [{ key: 'envoy.filters.http.ext_proc', value: { fields } }]
  }
  return msg as ProcessingRequest
}

export interface Exchange {
  readonly responses: ProcessingResponse__Output[]
  readonly status: grpc.StatusObject
}

/** Opens one Process stream, writes `messages`, half-closes, and collects every answer. */
export function exchange(
  client: grpc.Client,
  messages: readonly ProcessingRequest[],
  { halfClose = true, deadlineMs = 5000 } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const call = (
      client as unknown as {
        Process(
          opts: grpc.CallOptions,
        ): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse__Output>
      }
    ).Process({ deadline: Date.now() + deadlineMs })
    const responses: ProcessingResponse__Output[] = []
    call.on('data', (r: ProcessingResponse__Output) => responses.push(r))
    call.on('status', (status) => resolve({ responses, status }))
    call.on('error', () => {}) // the status event carries it
    for (const m of messages) call.write(m)
    if (halfClose) call.end()
  })
}

/** The header mutation of an allow as a map name -> raw_value (latin1), plus removals. */
export function allowMutation(r: ProcessingResponse__Output | undefined): {
  set: Map<string, string>
  setValueField: Map<string, string>
  appendActions: Map<string, string>
  remove: string[]
} {
  const mutation = r?.request_headers?.response?.header_mutation
  const set = new Map<string, string>()
  const setValueField = new Map<string, string>()
  const appendActions = new Map<string, string>()
  for (const o of mutation?.set_headers ?? []) {
    const key = o.header?.key ?? ''
    set.set(key, Buffer.from(o.header?.raw_value ?? Buffer.alloc(0)).toString('latin1'))
    setValueField.set(key, o.header?.value ?? '')
    appendActions.set(key, String(o.append_action ?? 'APPEND_IF_EXISTS_OR_ADD'))
  }
  return { set, setValueField, appendActions, remove: [...(mutation?.remove_headers ?? [])] }
}

export interface DenySummary {
  status: number
  reason: string
  body: Record<string, unknown>
  details: string
  contentType: string | undefined
  grpcStatus: number | undefined
}

export function denyOf(r: ProcessingResponse__Output | undefined): DenySummary {
  const ir = r?.immediate_response
  if (!ir) throw new Error(`expected an immediate_response, got ${JSON.stringify(r)}`)
  const body = JSON.parse(Buffer.from(ir.body ?? Buffer.alloc(0)).toString('utf8')) as Record<
    string,
    unknown
  >
  const ct = ir.headers?.set_headers?.find((h) => h.header?.key === 'content-type')
  return {
    status: Number(
      typeof ir.status?.code === 'string'
        ? STATUS_NAMES[ir.status.code as string]
        : (ir.status?.code ?? 0),
    ),
    reason: String(body.reason),
    body,
    details: ir.details ?? '',
    contentType: ct
      ? Buffer.from(ct.header?.raw_value ?? Buffer.alloc(0)).toString('latin1')
      : undefined,
    grpcStatus: ir.grpc_status ? (ir.grpc_status.status ?? 0) : undefined,
  }
}

// envoy.type.v3.StatusCode enum names (enums: String) for the statuses we use.
const STATUS_NAMES: Record<string, number> = {
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  RequestTimeout: 408,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  ServiceUnavailable: 503,
}
