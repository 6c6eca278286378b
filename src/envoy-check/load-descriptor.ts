import { readFileSync } from 'node:fs'
import { DESCRIPTOR_FILE, type EnvoyDescriptor } from './descriptor-types.js'

let cached: EnvoyDescriptor | undefined

/**
 * The compact Envoy API descriptor built by `make compile` (build-descriptor.ts). Plain JSON:
 * parsing it takes a few ms, against ~500 ms for protobufjs to parse the ~300 .proto files.
 */
export function loadDescriptor(): EnvoyDescriptor {
  cached ??= JSON.parse(
    readFileSync(new URL(DESCRIPTOR_FILE, import.meta.url), 'utf8'),
  ) as EnvoyDescriptor
  return cached
}
