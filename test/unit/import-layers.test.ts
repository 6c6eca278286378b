import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

// The layout stays true (docs/architecture.md): a folder of src/ imports only from folders on
// lower layers, folders on one layer never import each other, and no two files import each
// other, directly or around a loop. Only src/ counts: bench/ and test/ may import anything.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SRC = join(ROOT, 'src')

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

/** Every .ts file under `dir`, as a path relative to src/ ('/'-separated); src/gen is skipped. */
function sources(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (relative(SRC, path) !== 'gen') out.push(...sources(path))
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(relative(SRC, path).split('\\').join('/'))
    }
  }
  return out
}

/** Relative specifiers in `from '...'`, `import '...'` and `import('...')`. */
function specifiers(text: string): string[] {
  const out: string[] = []
  const forms = [/\bfrom\s+'([^']+)'/g, /^\s*import\s+'([^']+)'/gm, /\bimport\(\s*'([^']+)'\s*\)/g]
  for (const form of forms) {
    for (const m of text.matchAll(form)) {
      const spec = m[1] as string
      if (spec.startsWith('.')) out.push(spec)
    }
  }
  return out
}

/** The folder (first segment) a src/ path belongs to; src/index.ts is its own. */
function folderOf(file: string): string {
  const slash = file.indexOf('/')
  return slash < 0 ? file : file.slice(0, slash)
}

/** file -> the src/ files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of sources(SRC)) {
    const text = readFileSync(join(SRC, file), 'utf8')
    const targets = specifiers(text).map((spec) =>
      join(dirname(file), spec).split('\\').join('/').replace(/\.js$/, '.ts'),
    )
    graph.set(file, [...new Set(targets)])
  }
  return graph
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
