import { ExternalProcessorClient, requestHeaders } from './extproc-client.js'

interface MethodDef {
  requestSerialize(m: unknown): Buffer
  responseDeserialize(b: Buffer): Record<string, unknown>
}

/** Process's proto-loader (de)serializers: messages made by protobufjs, not by our codec. */
export const PROCESS_METHOD = (
  ExternalProcessorClient.service as unknown as Record<string, MethodDef>
).Process as MethodDef

/** A ProcessingRequest serialized by proto-loader, in a gRPC frame (uncompressed). */
export function grpcFrame(request: unknown): Buffer {
  const body = PROCESS_METHOD.requestSerialize(request)
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}

/** A framed request_headers ProcessingRequest. */
export function grpcFrameOf(headers: Record<string, string>): Buffer {
  return grpcFrame(requestHeaders(headers))
}
