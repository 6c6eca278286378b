import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { parseDocument } from 'yaml'

/** A bootstrap is tens of KiB; bound the read before parsing. */
const MAX_BOOTSTRAP_BYTES = 4 * 1024 * 1024

/** The file cannot be checked at all (exit 2): unreadable, too large, not YAML/JSON. */
export class UnreadableBootstrap extends Error {
  override readonly name = 'UnreadableBootstrap'
}

/** Reads an Envoy bootstrap the way Envoy picks the format: .json is JSON, .yaml/.yml YAML. */
export async function readBootstrap(file: string): Promise<unknown> {
  const ext = extname(file).toLowerCase()
  if (!['.json', '.yaml', '.yml'].includes(ext)) {
    throw new UnreadableBootstrap(`${file}: expected a .yaml, .yml or .json bootstrap`)
  }
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw new UnreadableBootstrap(
      `${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
  if (buf.length > MAX_BOOTSTRAP_BYTES) {
    throw new UnreadableBootstrap(`${file}: larger than ${MAX_BOOTSTRAP_BYTES} bytes`)
  }
  const text = buf.toString('utf8')
  if (ext === '.json') {
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new UnreadableBootstrap(`${file}: JSON: ${(err as Error).message}`)
    }
  }
  // Envoy's YAML loader accepts anchors and merge keys; duplicate keys are an error there too.
  const doc = parseDocument(text, { uniqueKeys: true, merge: true })
  if (doc.errors.length > 0) {
    throw new UnreadableBootstrap(`${file}: YAML: ${doc.errors[0]?.message.split('\n')[0]}`)
  }
  return doc.toJS({ maxAliasCount: 100 })
}
