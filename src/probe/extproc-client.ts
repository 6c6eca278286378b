import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { ProcessingRequest } from '../gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import type { ProcessingResponse__Output } from '../gen/envoy/service/ext_proc/v3/ProcessingResponse.js'
import { AuthzError } from '../shared/errors.js'

// An ext_proc client that speaks to the processor as Envoy does: `extproc-authz probe` and the
// tests use it. It encodes and decodes with proto-loader (protobufjs) from the buf-built
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

export type Headers = ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string>>

export interface HeaderOptions {
  /** Put values in the old `value` field instead of `raw_value` (older Envoy). */
  readonly legacyValue?: boolean
  readonly attributes?: Readonly<Record<string, string | boolean | number>>
  readonly endOfStream?: boolean
}

function entries(h: Headers): Array<readonly [string, string]> {
  return Array.isArray(h) ? [...h] : Object.entries(h)
}

/**
 * A request_headers ProcessingRequest as Envoy sends it: values in raw_value, attributes in
 * the map under "envoy.filters.http.ext_proc". From a descriptor set, proto-loader represents
 * map fields as lists of {key, value} entries.
 */
export function requestHeaders(h: Headers, opts: HeaderOptions = {}): ProcessingRequest {
  const headers = entries(h).map(([key, value]) =>
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
  if (!ir) {
    throw new AuthzError(
      'ERR_PROBE_UNEXPECTED',
      `expected an immediate_response, got ${JSON.stringify(r)}`,
    )
  }
  const body = JSON.parse(Buffer.from(ir.body ?? Buffer.alloc(0)).toString('utf8')) as Record<
    string,
    unknown
  >
  const ct = ir.headers?.set_headers?.find((h) => h.header?.key === 'content-type')
  return {
    status: httpStatus(ir.status?.code),
    reason: String(body.reason),
    body,
    details: ir.details ?? '',
    contentType: ct
      ? Buffer.from(ct.header?.raw_value ?? Buffer.alloc(0)).toString('latin1')
      : undefined,
    grpcStatus: ir.grpc_status ? (ir.grpc_status.status ?? 0) : undefined,
  }
}

/** envoy.type.v3.StatusCode names (enums: String) -> HTTP status, from the descriptor itself. */
const STATUS_NUMBERS: ReadonlyMap<string, number> = new Map(
  (
    packageDefinition['envoy.type.v3.StatusCode'] as unknown as {
      type: { value: ReadonlyArray<{ name: string; number: number }> }
    }
  ).type.value.map((v) => [v.name, v.number]),
)

/** The HTTP status of an ImmediateResponse; 0 when absent or unknown. */
export function httpStatus(code: string | number | undefined | null): number {
  if (typeof code === 'number') return code
  return code == null ? 0 : (STATUS_NUMBERS.get(code) ?? 0)
}
