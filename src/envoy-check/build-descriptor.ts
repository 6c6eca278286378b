import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import {
  DESCRIPTOR_FILE,
  type EnumDesc,
  type EnvoyDescriptor,
  type FieldDesc,
  type MessageDesc,
} from './descriptor-types.js'

// Build time only (make compile): parse every v3 envoy.config.* / envoy.extensions.* proto from
// @grpc/grpc-js-xds with protobufjs and write the compact descriptor check-envoy loads at runtime.
// buf cannot build this closure (the bundled protoc-gen-validate lacks newer options, FACTS.md);
// protobufjs ignores unknown options, so it can.
const require = createRequire(import.meta.url)
const DEPS = join(require.resolve('@grpc/grpc-js-xds/package.json'), '..', 'deps')
const PROTOBUFJS = join(require.resolve('protobufjs/package.json'), '..')
const INCLUDE = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(DEPS, d)),
  PROTOBUFJS, // google/protobuf/descriptor.proto, imported by the annotation protos
]
const ENVOY_API = join(DEPS, 'envoy-api')
/** v2 and v2alpha protos import envoy/api/v2, which the package does not ship. */
const LEGACY = /\/v2(alpha\d*)?\//
/** Untyped extension configs (TypedStruct) are allowed wherever an Any is. */
const TYPED_STRUCTS = ['udpa/type/v1/typed_struct.proto', 'xds/type/v3/typed_struct.proto']

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return protoFiles(p)
    return p.endsWith('.proto') ? [relative(ENVOY_API, p)] : []
  })
}

function loadRoot(files: readonly string[]): { root: protobuf.Root; failed: string[] } {
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) =>
    isAbsolute(target)
      ? target
      : (INCLUDE.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target)
  const failed: string[] = []
  for (const file of files) {
    try {
      root.loadSync(file, { keepCase: true })
    } catch {
      failed.push(file)
    }
  }
  return { root, failed }
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

function collect(
  ns: protobuf.NamespaceBase,
  out: { messages: Record<string, MessageDesc>; enums: Record<string, EnumDesc> },
) {
  for (const nested of ns.nestedArray) {
    const name = nested.fullName.slice(1)
    if (nested instanceof protobuf.Type) {
      const f: Record<string, FieldDesc> = {}
      for (const field of nested.fieldsArray) {
        field.resolve()
        const jsonName = (field.options?.json_name as string | undefined) ?? lowerCamel(field.name)
        const t = field.resolvedType ? field.resolvedType.fullName.slice(1) : field.type
        f[field.name] = {
          t,
          ...(jsonName !== field.name ? { j: jsonName } : {}),
          ...(field.repeated ? { r: 1 as const } : {}),
          ...(field instanceof protobuf.MapField ? { k: field.keyType } : {}),
          ...(field.partOf ? { o: field.partOf.name } : {}),
        }
      }
      out.messages[name] = { f }
    } else if (nested instanceof protobuf.Enum) {
      out.enums[name] = { v: { ...nested.values } }
    }
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) {
      collect(nested, out)
    }
  }
}

export function buildDescriptor(): { descriptor: EnvoyDescriptor; skipped: string[] } {
  const candidates = ['config', 'extensions']
    .flatMap((d) => protoFiles(join(ENVOY_API, 'envoy', d)))
    .filter((f) => !LEGACY.test(f))
    .concat(TYPED_STRUCTS)
  // A file whose imports are missing (opencensus, opentelemetry protos are not shipped) leaves
  // unresolvable types behind: drop it and its dependents, then load the rest into a clean root.
  let files = candidates
  const skipped: string[] = []
  for (;;) {
    const { root, failed } = loadRoot(files)
    if (failed.length === 0) {
      root.resolveAll()
      const out = { messages: {}, enums: {} }
      collect(root, out)
      return { descriptor: out, skipped }
    }
    // A failed load leaves partial types behind that can break later files in the same root:
    // drop only files that fail on their own (and so their dependents, next round).
    const broken = failed.filter((f) => loadRoot([f]).failed.length > 0)
    const drop = broken.length > 0 ? broken : failed
    skipped.push(...drop)
    files = files.filter((f) => !drop.includes(f))
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { descriptor, skipped } = buildDescriptor()
  const target = fileURLToPath(new URL(DESCRIPTOR_FILE, import.meta.url))
  writeFileSync(target, JSON.stringify(descriptor))
  process.stdout.write(
    `check-envoy descriptor: ${Object.keys(descriptor.messages).length} messages, ${Object.keys(descriptor.enums).length} enums -> ${target}; skipped (missing imports): ${skipped.join(', ') || 'none'}\n`,
  )
}
