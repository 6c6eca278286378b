import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { parseDocument } from 'yaml'
import { FileUnreadableError } from '../shared/errors.js'
import { SourcePositions } from './source-positions.js'

/** A bootstrap is tens of KiB; bound the read before parsing. */
const MAX_BOOTSTRAP_BYTES = 4 * 1024 * 1024
/** Envoy's YAML loader expands aliases; bound them (a "billion laughs" file stays cheap). */
const MAX_ALIAS_COUNT = 100
/** protobuf's JSON parser stops at 100 levels; real bootstraps nest about 25 deep. */
const MAX_NESTING = 100

/** The file cannot be checked at all (exit 2): unreadable, too large, not YAML/JSON. */
export class UnreadableBootstrap extends FileUnreadableError {
  override readonly name = 'UnreadableBootstrap'
}

interface BootstrapSource {
  /** The document as plain JSON values; undefined for an empty file. */
  readonly value: unknown
  /** Line and column of each finding path in the file. */
  readonly positions: SourcePositions
}

/** Depth of the deepest object or list, counted without recursion; stops past `limit`. */
function nesting(value: unknown, limit: number): number {
  let deepest = 0
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number]
    if (v === null || typeof v !== 'object') continue
    if (depth + 1 > deepest) deepest = depth + 1
    if (deepest > limit) return deepest
    for (const child of Object.values(v)) stack.push([child, depth + 1])
  }
  return deepest
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0] ?? ''
}

/** Parses bootstrap text the way Envoy picks the format: JSON for .json, YAML otherwise. */
export function parseBootstrap(
  text: string,
  format: 'json' | 'yaml',
  file = '(text)',
): BootstrapSource {
  const bounded = (value: unknown) => {
    if (nesting(value, MAX_NESTING) > MAX_NESTING)
      throw new UnreadableBootstrap(`nested deeper than ${MAX_NESTING} levels`, { file })
    return value
  }
  if (format === 'json') {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new UnreadableBootstrap(`JSON: ${firstLine(err)}`, { file })
    }
    bounded(value)
    // JSON is YAML: the YAML parser gives the positions (or none, if it disagrees).
    const doc = parseDocument(text, { uniqueKeys: false })
    return { value, positions: new SourcePositions(doc.errors.length ? undefined : doc, text) }
  }
  // Envoy's YAML loader (yaml-cpp) accepts anchors and merge keys, refuses duplicate keys, and
  // reads plain y/yes/on/off as booleans: YAML 1.1's schema, not 1.2's. A parser failure of any
  // kind (a stack overflow on absurd nesting included) means the file cannot be read.
  let doc: ReturnType<typeof parseDocument>
  let value: unknown
  try {
    doc = parseDocument(text, { uniqueKeys: true, merge: true, schema: 'yaml-1.1' })
    if (doc.errors.length > 0) {
      throw new UnreadableBootstrap(`YAML: ${firstLine(doc.errors[0])}`, { file })
    }
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    if (err instanceof UnreadableBootstrap) throw err
    throw new UnreadableBootstrap(`YAML: ${firstLine(err)}`, { file })
  }
  return { value: bounded(value), positions: new SourcePositions(doc, text) }
}

/** Reads an Envoy bootstrap the way Envoy picks the format: .json is JSON, .yaml/.yml YAML. */
export async function readBootstrap(file: string): Promise<BootstrapSource> {
  const ext = extname(file).toLowerCase()
  if (!['.json', '.yaml', '.yml'].includes(ext)) {
    throw new UnreadableBootstrap('expected a .yaml, .yml or .json bootstrap', { file })
  }
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw new UnreadableBootstrap(
      `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { file },
    )
  }
  if (buf.length > MAX_BOOTSTRAP_BYTES) {
    throw new UnreadableBootstrap(`larger than ${MAX_BOOTSTRAP_BYTES} bytes`, { file })
  }
  return parseBootstrap(buf.toString('utf8'), ext === '.json' ? 'json' : 'yaml', file)
}
