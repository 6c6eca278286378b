import { readFileSync } from 'node:fs'
import protobuf from 'protobufjs'
import descriptorExt from 'protobufjs/ext/descriptor/index.js'

// protobufjs built from the same buf descriptor set the server ships: the reference codec our
// own wire codec is checked against. From a descriptor set, field names stay snake_case and map
// fields are lists of {key, value} entries.
const set = descriptorExt.FileDescriptorSet.decode(
  readFileSync(new URL('../../proto/extproc-authz.binpb', import.meta.url)),
)
const root = (
  protobuf.Root as unknown as { fromDescriptor(s: unknown): protobuf.Root }
).fromDescriptor(set)

export const ProcessingRequestType = root.lookupType('envoy.service.ext_proc.v3.ProcessingRequest')
export const ProcessingResponseType = root.lookupType(
  'envoy.service.ext_proc.v3.ProcessingResponse',
)
