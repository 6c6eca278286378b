/**
 * A fixed set of names (header names, attribute keys) matched against encoded bytes without
 * decoding them. A decision reads a handful of the headers Envoy sends: the decoder matches each
 * name's bytes here and turns into strings only the fields that match, instead of decoding
 * every name and value of every request (the largest part of decoding, measured in bench/).
 */
export class NameSet {
  /** Candidates by encoded length: most lengths have none, the rest one or two. */
  private readonly byLength: Array<Array<{ name: string; bytes: Buffer }> | undefined> = []

  /** `encoding`: how the wire carries the names (latin1 for header bytes, utf8 for strings). */
  constructor(names: readonly string[], encoding: 'latin1' | 'utf8') {
    for (const name of new Set(names)) {
      const bytes = Buffer.from(name, encoding)
      const list = this.byLength[bytes.length] ?? []
      list.push({ name, bytes })
      this.byLength[bytes.length] = list
    }
  }

  /** The name encoded as buf[start, end), or undefined when it is not in the set. */
  match(buf: Uint8Array, start: number, end: number): string | undefined {
    const list = this.byLength[end - start]
    if (list === undefined) return undefined
    for (const { name, bytes } of list) {
      let i = 0
      while (i < bytes.length && buf[start + i] === bytes[i]) i++
      if (i === bytes.length) return name
    }
    return undefined
  }
}

/** What a caller reads: only these headers and attributes are decoded into strings. */
export interface DecodeSelection {
  readonly headers: NameSet
  readonly attributes: NameSet
}
