import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { importGraph, specifiers } from '../helpers/import-graph.js'

// The layout stays true (docs/architecture.md): a folder of src/ imports only from folders on
// lower layers, folders on one layer never import each other, and no two files import each
// other, directly or around a loop. Only src/ counts: bench/ and test/ may import anything.
/** Layer of each folder of src/, lowest first (the table in docs/architecture.md). */
const LAYERS: readonly (readonly string[])[] = [
  ['gen'],
  ['shared'],
  ['identity'],
  ['authz'],
  ['tokens', 'liveness'],
  ['extproc'],
  ['config'],
  ['observe', 'pki'],
  ['transport'],
  ['envoy-check', 'docs', 'probe'],
  ['app'],
  ['cli'],
  ['index.ts'],
]
const RANK = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank] as const)))

/**
 * Imports the code has today that break the rule, each `from -> to` (folders, or files for a
 * cycle). The test fails when one is no longer there, so this list only shrinks.
 */
const KNOWN: readonly string[] = []

/** The folder (first segment) a src/ path belongs to; src/index.ts is its own. */
function folderOf(file: string): string {
  const slash = file.indexOf('/')
  return slash < 0 ? file : file.slice(0, slash)
}

function layerBreaks(graph: Map<string, string[]>): string[] {
  const out = new Set<string>()
  for (const [file, targets] of graph) {
    const from = folderOf(file)
    for (const target of targets) {
      const to = folderOf(target)
      if (from === to) continue
      const a = RANK.get(from)
      const b = RANK.get(to)
      if (a === undefined || b === undefined || b >= a) out.add(`${from} -> ${to}`)
    }
  }
  return [...out].sort()
}

/** One edge `a -> b` of each cycle found (the edge that closes it in a depth-first walk). */
function cycleEdges(graph: Map<string, string[]>): string[] {
  const out: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (file: string): void => {
    state.set(file, 'open')
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue // src/gen
      const s = state.get(next)
      if (s === 'open') out.push(`${file} -> ${next}`)
      else if (s === undefined) visit(next)
    }
    state.set(file, 'done')
  }
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file)
  return out.sort()
}

describe('import layers of src/', () => {
  const graph = importGraph()

  test('every folder of src/ has a layer', () => {
    const unplaced = [...new Set([...graph.keys()].map(folderOf))].filter((f) => !RANK.has(f))
    assert.deepEqual(unplaced, [], 'add new folders to LAYERS and docs/architecture.md')
  })

  test('every import goes to the same folder or a lower layer; no import cycle', () => {
    const found = [...layerBreaks(graph), ...cycleEdges(graph)]
    assert.deepEqual(
      found.filter((e) => !KNOWN.includes(e)),
      [],
      'an import breaks the layers (docs/architecture.md) or closes a cycle',
    )
    assert.deepEqual(
      KNOWN.filter((e) => !found.includes(e)),
      [],
      'fixed: remove it from KNOWN',
    )
  })

  test('the reader sees every import form', () => {
    const text = [
      "import { a } from '../shared/a.js'",
      "import type { B } from './b.js'",
      "export { c } from '../authz/c.js'",
      "import './side-effect.js'",
      "const d = await import('../config/d.js')",
      "import { readFileSync } from 'node:fs'",
    ].join('\n')
    assert.deepEqual(specifiers(text).sort(), [
      '../authz/c.js',
      '../config/d.js',
      '../shared/a.js',
      './b.js',
      './side-effect.js',
    ])
  })
})
