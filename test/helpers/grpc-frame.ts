import { ExternalProcessorClient, requestHeaders } from './extproc-client.js'

interface MethodDef {
  requestSerialize(m: unknown): Buffer
}

/** A framed request_headers ProcessingRequest, serialized by proto-loader (not our codec). */
export function grpcFrameOf(headers: Record<string, string>): Buffer {
  const method = (ExternalProcessorClient.service as unknown as Record<string, MethodDef>)
    .Process as MethodDef
  const body = method.requestSerialize(requestHeaders(headers))
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}
