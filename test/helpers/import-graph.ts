import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// The import graph of src/, read from the sources as text: what the layer and transport-seam
// tests check. Paths are relative to src/, '/'-separated, `.ts`; src/gen is left out.
export const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

/** Every .ts file under `dir`, as a path relative to src/; src/gen is skipped. */
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

/** Relative specifiers in `from '...'` (import and export), `import '...'` and `import('...')`. */
export function specifiers(text: string): string[] {
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

/** file -> the src/ files it imports (each once). */
export function importGraph(): Map<string, string[]> {
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

/** Each import `from -> to` of the graph whose importing file passes `from`. */
export function edges(
  graph: Map<string, string[]>,
  from: (file: string) => boolean,
): Array<[string, string]> {
  return [...graph]
    .filter(([file]) => from(file))
    .flatMap(([file, targets]) => targets.map((t): [string, string] => [file, t]))
}
