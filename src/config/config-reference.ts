import { AuthzError } from '../shared/errors.js'
import { tableCell, tableHeader } from '../shared/markdown-table.js'
import { exampleSections } from './example-sections.js'
import type { JsonSchema } from './json-schema.js'

/** Where the generated reference lives in the repository. */
export const CONFIG_REFERENCE_PATH = 'docs/config-reference.md'

interface Area {
  readonly title: string
  /** Top-level config keys in this area, in the order they are documented. */
  readonly keys: readonly string[]
  readonly intro: string
}

// Feature areas group top-level sections for a reader. Every schema key is in exactly one area and
// has an annotated example in examples/config.yaml: renderConfigReference throws otherwise, so
// `make schema` (and the staleness test) fail on a section added without its documentation.
const AREAS: readonly Area[] = [
  {
    title: 'Listening and channel TLS',
    keys: ['listen', 'tls'],
    intro: 'Where the gRPC server listens and how it authenticates the Envoy that connects.',
  },
  {
    title: 'Serving: transport, workers and shutdown',
    keys: ['transport', 'workers', 'shutdown'],
    intro: 'How the Process method is served, by how many processes, and how the server stops.',
  },
  {
    title: 'Identity sources',
    keys: ['identity', 'headers'],
    intro: 'Where the peer SPIFFE ID comes from, and the identity headers set upstream.',
  },
  {
    title: 'Rules and conditions',
    keys: ['policy'],
    intro: 'Ordered rules: the first whose method, host and path match decides; no match denies.',
  },
  {
    title: 'Runner tokens and sessions',
    keys: ['runner_tokens', 'session_registry'],
    intro: 'Encrypted runner tokens, the private keys that decrypt them, and session liveness.',
  },
  {
    title: 'Limits',
    keys: ['limits'],
    intro: 'Bounds on what one request may make the service read, applied before any other work.',
  },
  { title: 'Logging', keys: ['logging'], intro: 'The structured (pino) log.' },
  {
    title: 'Decision metadata for Envoy',
    keys: ['decision_metadata'],
    intro:
      "What every answer tells Envoy beside the status: the decision as dynamic metadata, for Envoy's access log, rate limits and RBAC ([envoy-decisions.md](envoy-decisions.md)).",
  },
  {
    title: 'Metrics and admin',
    keys: ['admin'],
    intro: 'The admin HTTP server: metrics, health and readiness.',
  },
]

function props(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema.properties as Record<string, JsonSchema> | undefined) ?? {}
}

function resolve(root: JsonSchema, schema: JsonSchema): JsonSchema {
  const ref = schema.$ref
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema
  let node: unknown = root
  for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part]
  return { ...(node as JsonSchema), ...schema, $ref: undefined }
}

function code(value: unknown): string {
  return `\`${JSON.stringify(value).replaceAll('|', '\\|')}\``
}

/** A union of mappings told apart by one property's constant (e.g. `kind: http | file`). */
interface TaggedUnion {
  readonly tag: string
  readonly variants: ReadonlyArray<{ readonly value: unknown; readonly schema: JsonSchema }>
}

function taggedUnion(root: JsonSchema, s: JsonSchema): TaggedUnion | undefined {
  const raw = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined
  if (!raw || raw.length < 2) return undefined
  const variants = raw.map((v) => resolve(root, v))
  if (!variants.every((v) => v.type === 'object')) return undefined
  for (const tag of Object.keys(props(variants[0] as JsonSchema))) {
    const values = variants.map((v) => resolve(root, props(v)[tag] ?? {}).const)
    if (values.every((value) => value !== undefined)) {
      return { tag, variants: variants.map((schema, i) => ({ value: values[i], schema })) }
    }
  }
  return undefined
}

function typeOf(root: JsonSchema, raw: JsonSchema): string {
  const s = resolve(root, raw)
  const union = taggedUnion(root, s)
  if (union) return `mapping, by \`${union.tag}\``
  const variants = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined
  if (variants) return variants.map((v) => typeOf(root, v)).join(' or ')
  if (s.const !== undefined) return code(s.const)
  if (Array.isArray(s.enum)) return `one of ${s.enum.map(code).join(', ')}`
  const bounds: string[] = []
  if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`)
  if (s.maximum !== undefined && s.maximum !== Number.MAX_SAFE_INTEGER)
    bounds.push(`≤ ${s.maximum}`)
  if (s.minItems !== undefined) bounds.push(`at least ${s.minItems}`)
  if (s.maxLength !== undefined) bounds.push(`≤ ${s.maxLength} chars`)
  let type = typeof s.type === 'string' ? s.type : 'any'
  if (type === 'array' && s.items) type = `list of ${typeOf(root, s.items as JsonSchema)}`
  if (type === 'object') type = 'mapping'
  return bounds.length > 0 ? `${type} (${bounds.join(', ')})` : type
}

/**
 * One table row per key, nested mappings and list items flattened into dotted paths. `only` marks
 * the keys of one variant of a tagged union (e.g. "With `kind: http`.").
 */
function rows(
  root: JsonSchema,
  schema: JsonSchema,
  path: string,
  required: boolean,
  only = '',
): string[] {
  const s = resolve(root, schema)
  const own = typeof s.description === 'string' ? s.description : ''
  const union = taggedUnion(root, s)
  const description = union
    ? [
        own,
        ...union.variants.map(
          (v) => `\`${union.tag}: ${String(v.value)}\`: ${v.schema.description ?? ''}`,
        ),
      ]
        .filter((t) => t !== '')
        .join(' ')
    : `${only}${own}`
  const dflt = s.default === undefined ? '' : code(s.default)
  const out = [
    `| \`${path}\` | ${tableCell(typeOf(root, s))} | ${required ? 'yes' : ''} | ${dflt} | ${tableCell(description)} |`,
  ]
  if (union) {
    const tags = union.variants.map((v) => code(v.value)).join(', ')
    out.push(
      `| \`${path}.${union.tag}\` | one of ${tableCell(tags)} | yes |  | Which kind of ${path.split('.').pop()}. |`,
    )
    for (const v of union.variants) {
      const req = new Set((v.schema.required as string[] | undefined) ?? [])
      const note = `With \`${union.tag}: ${String(v.value)}\`. `
      for (const [key, child] of Object.entries(props(v.schema))) {
        if (key === union.tag) continue
        out.push(...rows(root, child, `${path}.${key}`, req.has(key), note))
      }
    }
    return out
  }
  const items = s.type === 'array' ? resolve(root, (s.items as JsonSchema) ?? {}) : undefined
  const container = items?.type === 'object' ? items : s.type === 'object' ? s : undefined
  if (container) {
    const prefix = items ? `${path}[]` : path
    const req = new Set((container.required as string[] | undefined) ?? [])
    for (const [key, child] of Object.entries(props(container))) {
      out.push(...rows(root, child, `${prefix}.${key}`, req.has(key)))
    }
  }
  return out
}

function section(root: JsonSchema, key: string, examples: ReadonlyMap<string, string>): string[] {
  const schema = props(root)[key]
  if (schema === undefined)
    throw new AuthzError('ERR_INTERNAL', `config reference: area key ${key} is not in the schema`)
  const required = ((root.required as string[] | undefined) ?? []).includes(key)
  const out = [
    `### \`${key}\``,
    '',
    ...tableHeader(['key', 'type', 'required', 'default', 'description']),
    ...rows(root, schema, key, required),
    '',
  ]
  const example = examples.get(key)
  if (example === undefined) {
    throw new AuthzError(
      'ERR_INTERNAL',
      `config reference: examples/config.yaml has no annotated ${key}: section`,
    )
  }
  out.push('```yaml', example, '```', '')
  return out
}

/** Renders the Markdown config reference from the JSON Schema and the annotated example. */
export function renderConfigReference(root: JsonSchema, exampleYaml: string): string {
  const examples = exampleSections(exampleYaml)
  const known = new Set(AREAS.flatMap((a) => a.keys))
  const others = Object.keys(props(root)).filter((k) => !known.has(k))
  if (others.length > 0) {
    throw new AuthzError(
      'ERR_INTERNAL',
      `config reference: no area in config-reference.ts for ${others.join(', ')}`,
    )
  }
  const areas = AREAS
  const anchor = (t: string) =>
    t
      .toLowerCase()
      .replaceAll(/[^a-z0-9 -]/g, '')
      .replaceAll(' ', '-')
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated by `make schema` from src/config/schema.ts and examples/config.yaml. Do not',
    '     edit: change the descriptions in the schema or the example, then run `make schema`. -->',
    '',
    'One YAML file, validated whole when `extproc-authz serve` starts and by',
    '`extproc-authz config check FILE`. The JSON Schema `schema/config.schema.json` is generated',
    'from the same definitions; point your editor at it with a first line',
    '`# yaml-language-server: $schema=<path>/schema/config.schema.json`.',
    '',
    'Keys in a table are dotted paths; `[]` stands for every item of a list. Checks the JSON Schema',
    'cannot express (SPIFFE ID syntax, path templates, unique rule names, exactly one effect per',
    'rule, at least one condition) are made by `config check` and at start-up.',
    '',
    ...areas.map((a) => `- [${a.title}](#${anchor(a.title)})`),
    '',
  ]
  for (const area of areas) {
    out.push(`## ${area.title}`, '', area.intro, '')
    for (const key of area.keys) out.push(...section(root, key, examples))
  }
  return `${out.join('\n').trimEnd()}\n`
}
