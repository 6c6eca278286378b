import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// app/ reaches the transports through one door (transport/transport.ts), and each transport's
// folder stands alone: http2/ and grpc-js/ share only what transport/ holds.
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

/** The files under src/ a module imports (relative specifiers, `.js` read as `.ts`). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.{1,2}\/[^']+)'/g,
  )) {
    const target = resolve(dirname(file), (m[1] as string).replace(/\.js$/, '.ts'))
    out.push(relative(SRC, target))
  }
  return out
}

test('app/ imports from transport/ only transport/transport.ts', () => {
  const reached = tsFiles(join(SRC, 'app')).flatMap((file) =>
    importsOf(file)
      .filter((target) => target.startsWith('transport/'))
      .map((target) => `${relative(SRC, file)} -> ${target}`),
  )
  assert.ok(reached.length > 0, 'app/ starts a transport')
  assert.deepEqual(
    reached.filter((edge) => !edge.endsWith('-> transport/transport.ts')),
    [],
  )
})

test('outside transport/, nothing imports a transport file but transport/transport.ts', () => {
  const outside = tsFiles(SRC)
    .filter((f) => !relative(SRC, f).startsWith('transport/'))
    .flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('transport/') && target !== 'transport/transport.ts')
        .map((target) => `${relative(SRC, file)} -> ${target}`),
    )
  assert.deepEqual(outside, [])
})

test('the http2/ and grpc-js/ transports do not import each other', () => {
  const crossing = (['http2', 'grpc-js'] as const).flatMap((kind) => {
    const other = kind === 'http2' ? 'transport/grpc-js/' : 'transport/http2/'
    return tsFiles(join(SRC, 'transport', kind)).flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith(other))
        .map((target) => `${relative(SRC, file)} -> ${target}`),
    )
  })
  assert.deepEqual(crossing, [])
})
