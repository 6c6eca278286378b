import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
} from 'yaml'

/** 1-based line and column, as compilers print them. */
export interface Position {
  readonly line: number
  readonly column: number
}

/** Splits a finding path (`a.b[0]["x.y"].@type`) back into keys and indexes. */
function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = []
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/gy
  for (let m = re.exec(path); m !== null && m[0] !== ''; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(Number(m[1]))
    else if (m[2] !== undefined) out.push(JSON.parse(m[2]) as string)
    else if (m[3] !== undefined) out.push(m[3])
  }
  return out
}

/**
 * Where each path of a parsed YAML (or JSON) document starts in its text: the key of a mapping
 * entry, the item of a list; for a path the file does not spell out (a missing field), the
 * nearest enclosing node that it does.
 */
export class SourcePositions {
  private readonly lines = new LineCounter()

  constructor(
    private readonly doc: Document | undefined,
    text: string,
  ) {
    let offset = 0
    for (const line of text.split('\n')) {
      this.lines.addNewLine(offset)
      offset += line.length + 1
    }
  }

  of(path: string): Position {
    let node: unknown = this.doc?.contents
    let offset = this.start(node) ?? 0
    for (const segment of parsePath(path)) {
      if (isAlias(node) && this.doc !== undefined) node = node.resolve(this.doc)
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
        )
        if (pair === undefined) break
        offset = this.start(pair.key) ?? offset
        node = pair.value
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment]
        if (item === undefined) break
        offset = this.start(item) ?? offset
        node = item
      } else break
    }
    const { line, col } = this.lines.linePos(offset)
    return { line, column: col }
  }

  private start(node: unknown): number | undefined {
    const range = (node as Node | null | undefined)?.range
    return Array.isArray(range) ? range[0] : undefined
  }
}
