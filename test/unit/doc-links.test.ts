import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// Every relative link in the Markdown a reader follows (README, SECURITY, CHANGELOG, docs/)
// must name a file or folder of the repository, and a #fragment a heading of the page it names.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PAGES = [
  'README.md',
  'SECURITY.md',
  'CHANGELOG.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

/** Markdown without fenced code blocks and inline code, where `](` is no link. */
function prose(text: string): string {
  return text.replaceAll(/^```[\s\S]*?^```/gm, '').replaceAll(/`[^`\n]*`/g, '')
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-'. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>()
  for (const m of markdown.replaceAll(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} +(.+)$/gm)) {
    const slug = (m[1] as string)
      .trim()
      .toLowerCase()
      .replaceAll(/[^\p{L}\p{N} _-]/gu, '')
      .replaceAll(' ', '-')
    let unique = slug
    for (let i = 1; out.has(unique); i++) unique = `${slug}-${i}`
    out.add(unique)
  }
  return out
}

function links(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string)
}

test('anchors follow GitHub: punctuation dropped, duplicates numbered', () => {
  assert.deepEqual(
    [...anchors('# Envoy and check-envoy\n## Channel mTLS (Envoy -> processor)\n## A\n## A\n')],
    ['envoy-and-check-envoy', 'channel-mtls-envoy---processor', 'a', 'a-1'],
  )
  assert.deepEqual(links('see [x](a.md#b) and `[y](no.md)` and [z](https://e.org)'), [
    'a.md#b',
    'https://e.org',
  ])
})

test('every relative link in the docs resolves (files and #headings)', () => {
  const broken: string[] = []
  let checked = 0
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8')
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue // https:, mailto:
      checked++
      const [path = '', fragment] = link.split('#', 2)
      const target = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURI(path))
      if (!relative(ROOT, target).startsWith('..') && !existsSync(target)) {
        broken.push(`${page}: ${link} (no such file)`)
        continue
      }
      if (fragment !== undefined && target.endsWith('.md') && statSync(target).isFile()) {
        if (!anchors(readFileSync(target, 'utf8')).has(fragment)) {
          broken.push(`${page}: ${link} (no heading #${fragment})`)
        }
      }
    }
  }
  assert.deepEqual(broken, [])
  assert.ok(checked > 40, `only ${checked} relative links found: is the link pattern right?`)
})

test('the README stays a README: at most 300 lines (topics go to docs/)', () => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length
  assert.ok(lines <= 300, `README.md has ${lines} lines: move the topic to its docs/ page`)
})
