import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { REASONS } from '../../src/authz/reasons.js'
import { renderConfigReference } from '../../src/config/config-reference.js'
import { configJsonSchema } from '../../src/config/json-schema.js'
import { renderMetricsReference } from '../../src/docs/metrics-reference.js'
import { renderReasonCodes } from '../../src/docs/reason-codes.js'
import { generatedFiles, REPO_ROOT } from '../../src/docs/write-generated.js'
import { createMetrics } from '../../src/observe/metrics.js'

test('committed generated files (schema, config reference, reason codes, metrics) match the code (run make schema)', async () => {
  for (const [path, expected] of await generatedFiles()) {
    const committed = await readFile(join(REPO_ROOT, path), 'utf8')
    assert.equal(committed, expected, `${path} is stale: run make schema and commit it`)
  }
})

test('the config reference refuses a schema section without an annotated example', async () => {
  const example = await readFile(join(REPO_ROOT, 'examples/config.yaml'), 'utf8')
  const withoutAdmin = example.replace(/\nadmin:\n {2}listen: .*\n/, '\n')
  assert.notEqual(withoutAdmin, example)
  assert.throws(
    () => renderConfigReference(configJsonSchema(), withoutAdmin),
    /examples\/config\.yaml has no annotated admin: section/,
  )
  const rendered = renderConfigReference(configJsonSchema(), example)
  assert.doesNotMatch(rendered, /mapping or mapping|No annotated example|Not in this build/)
  assert.match(rendered, /\| `session_registry\.source\.kind` \| one of `"http"`, `"file"` \| yes/)
})

test('the reason-code and metric pages list every reason and every extproc_authz_ metric', async () => {
  const reasons = renderReasonCodes()
  for (const code of Object.keys(REASONS))
    assert.match(reasons, new RegExp(`^\\| \`${code}\` \\|`, 'm'))
  const metrics = renderMetricsReference()
  const { registry } = createMetrics({})
  const names = registry.getMetricsAsArray().filter((m) => m.name.startsWith('extproc_authz_'))
  assert.ok(names.length > 20)
  for (const m of names) assert.ok(metrics.includes(`| \`${m.name}`), m.name)
})

test('every extproc_authz_ name the docs mention is a metric the server registers, or a reason', async () => {
  const names = new Set(
    createMetrics({})
      .registry.getMetricsAsArray()
      .map((m) => m.name),
  )
  const pages = [
    'README.md',
    'SECURITY.md',
    ...(await readdir(join(REPO_ROOT, 'docs'))).map((f) => `docs/${f}`),
  ]
  const unknown: string[] = []
  let seen = 0
  for (const page of pages) {
    const text = await readFile(join(REPO_ROOT, page), 'utf8')
    for (const [name] of text.matchAll(/extproc_authz_[a-z0-9_]*/g)) {
      seen++
      const metric = name.replace(/_(bucket|sum|count)$/, '')
      // extproc_authz_<reason> is Envoy's %RESPONSE_CODE_DETAILS%; a trailing _ is a prefix.
      const reason = name.slice('extproc_authz_'.length)
      if (
        names.has(name) ||
        names.has(metric) ||
        name.endsWith('_') ||
        Object.hasOwn(REASONS, reason)
      )
        continue
      unknown.push(`${page}: ${name}`)
    }
  }
  assert.deepEqual(unknown, [], 'renamed or removed metrics still named in the docs')
  assert.ok(seen > 30)
})
