import { readFileSync } from 'node:fs'
import { type ApiVersion, DESCRIPTOR_FILE, type EnvoyDescriptor } from './descriptor-types.js'

let cached: EnvoyDescriptor | undefined

/**
 * The compact Envoy API descriptor (`make envoy-api`, copied into dist by `make compile`). Plain
 * JSON: parsing it takes a few ms, against ~500 ms for protobufjs to parse the .proto files.
 */
export function loadDescriptor(): EnvoyDescriptor {
  cached ??= JSON.parse(
    readFileSync(new URL(DESCRIPTOR_FILE, import.meta.url), 'utf8'),
  ) as EnvoyDescriptor
  return cached
}

/** The Envoy API version check-envoy validates against. */
export function apiVersion(): ApiVersion {
  return loadDescriptor().api
}
