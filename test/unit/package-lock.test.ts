import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

interface LockEntry {
  readonly optionalDependencies?: Record<string, string>
}
interface Lock {
  readonly packages: Record<string, LockEntry>
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * The optional dependencies a lockfile names but does not record. npm installs (and records) every
 * platform's optional package, whatever the machine, so a lock missing one is rewritten by the
 * first `npm install` on a fresh clone (the +214 lines of biome, buf and typescript platform
 * packages issue 23 saw) and `make install` (npm ci) would not reproduce it.
 */
function unrecordedOptionalDependencies(lock: Lock): string[] {
  const missing: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      // npm resolves a dependency from the nearest node_modules up the tree.
      const candidates: string[] = []
      let base = path
      for (;;) {
        candidates.push(`${base === '' ? '' : `${base}/`}node_modules/${name}`)
        if (base === '') break
        const cut = base.lastIndexOf('/node_modules/')
        base = cut < 0 ? '' : base.slice(0, cut)
      }
      if (!candidates.some((c) => c in lock.packages))
        missing.push(`${path || '(root)'} -> ${name}`)
    }
  }
  return missing
}

test('package-lock.json records every optional platform package (a fresh install leaves it unchanged)', () => {
  const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as Lock
  assert.deepEqual(unrecordedOptionalDependencies(lock), [])
})

test('the check finds a lock that lacks platform packages (the lock before b37cc9c)', () => {
  const lock: Lock = {
    packages: {
      '': {},
      'node_modules/@biomejs/biome': {
        optionalDependencies: {
          '@biomejs/cli-linux-x64': '2.6.8',
          '@biomejs/cli-win32-x64': '2.6.8',
        },
      },
      'node_modules/@biomejs/cli-linux-x64': {},
      'node_modules/a/node_modules/b': { optionalDependencies: { c: '1' } },
      'node_modules/c': {},
    },
  }
  assert.deepEqual(unrecordedOptionalDependencies(lock), [
    'node_modules/@biomejs/biome -> @biomejs/cli-win32-x64',
  ])
})
