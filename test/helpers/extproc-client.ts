import * as grpc from '@grpc/grpc-js'
import type { ProcessingRequest } from '../../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import {
  ExternalProcessorClient,
  requestHeaders as exactRequestHeaders,
  type HeaderOptions,
  type Headers,
} from '../../src/probe/extproc-client.js'

// The client lives in src/ (`extproc-authz probe` uses it); tests reach the loopback server.
export {
  allowMutation,
  type DenySummary,
  denyOf,
  type Exchange,
  ExternalProcessorClient,
  exchange,
  type HeaderOptions,
  type Headers,
  HealthClient,
} from '../../src/probe/extproc-client.js'

/** The `:authority` requestHeaders adds when a test gives none; no test policy lists it. */
export const DEFAULT_AUTHORITY = 'default-authority.test'

/**
 * A request_headers message as Envoy sends it. Envoy always sends `:authority` (an HTTP/1 Host
 * header becomes it; without either, Envoy's connection manager answers 400 missing_host_header
 * itself), and the processor refuses a request without one: a test that gives none gets
 * DEFAULT_AUTHORITY, unless `exactHeaders` asks for the headers exactly as given.
 */
export function requestHeaders(
  h: Headers,
  opts: HeaderOptions & { readonly exactHeaders?: boolean } = {},
): ProcessingRequest {
  const given = Array.isArray(h) ? [...h] : Object.entries(h)
  if (!opts.exactHeaders && !given.some(([key]) => key === ':authority')) {
    given.push([':authority', DEFAULT_AUTHORITY])
  }
  return exactRequestHeaders(given, opts)
}

export function newClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): grpc.Client {
  return new ExternalProcessorClient(`127.0.0.1:${port}`, credentials, options)
}
