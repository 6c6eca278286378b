import type { ProcessingRequest } from '../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import { ExternalProcessorClient } from '../test/helpers/extproc-client.js'

interface MethodDef {
  requestSerialize(m: ProcessingRequest): Buffer
}

/**
 * The gRPC Length-Prefixed-Message for one ProcessingRequest, serialized with proto-loader
 * (protobufjs), independent of the server's codec. Built once per scenario, sent per stream.
 */
export function grpcFrame(request: ProcessingRequest): Buffer {
  const method = (ExternalProcessorClient.service as unknown as Record<string, MethodDef>)
    .Process as MethodDef
  const body = method.requestSerialize(request)
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}
