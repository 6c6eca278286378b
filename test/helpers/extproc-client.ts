import * as grpc from '@grpc/grpc-js'
import { ExternalProcessorClient } from '../../src/probe/extproc-client.js'

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
  requestHeaders,
} from '../../src/probe/extproc-client.js'

export function newClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): grpc.Client {
  return new ExternalProcessorClient(`127.0.0.1:${port}`, credentials, options)
}
