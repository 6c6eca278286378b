import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseBootstrap } from '../../src/envoy-check/read-bootstrap.js'
import { envoySkip } from '../helpers/envoy.js'
import {
  disagreement,
  isFileRefusal,
  makeRealFiles,
  pool,
  verdicts,
} from '../helpers/envoy-differential.js'
import { mutate, prng } from '../helpers/mutate-bootstrap.js'

// check-envoy against `envoy --mode validate` (the pinned Envoy): whenever Envoy rejects a
// config, check-envoy reports an error; whenever Envoy accepts it, check-envoy reports no
// structural (proto-* / envoy-*) error. Posture findings are check-envoy's own.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const FIXTURES = join(ROOT, 'test/fixtures/envoy-check')
/** ~100 in `make test`; `make fuzz` scales with FUZZ_RUNS (each is one Envoy process). */
const MUTATIONS = process.env.FUZZ_RUNS ? Math.ceil(Number(process.env.FUZZ_RUNS) / 10) : 100
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 21)
/** Two Envoy processes at once: the machine has two cores shared with other work. */
const PARALLEL = 2

/**
 * Disagreements kept on purpose, by fixture, with the reason. Each is asserted to still
 * disagree, so the list cannot go stale.
 */
const KEPT: Readonly<Record<string, string>> = {
  'sds-resources.yaml':
    'an SDS resource file, not a bootstrap: check-envoy checks it as the DiscoveryResponse Envoy reads through path_config_source; envoy --mode validate reads only bootstraps',
}

/**
 * Refusals check-envoy does not model, by Envoy's message, with the reason (docs/check-envoy.md).
 * A mutation Envoy refuses for one of these and check-envoy passes is counted, not failed.
 */
const KEPT_REFUSALS: readonly [RegExp, string][] = [
  [
    /Unable to parse descriptor expression/,
    'CEL in ext_proc attributes: check-envoy refuses a blank one, it does not parse CEL',
  ],
]

function load(file: string): unknown {
  const text = readFileSync(file, 'utf8')
  return parseBootstrap(text, file.endsWith('.json') ? 'json' : 'yaml', file).value
}

const dir = mkdtempSync(join(tmpdir(), 'check-envoy-differential-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('check-envoy agrees with envoy --mode validate', { skip: envoySkip }, () => {
  const files = envoySkip === false ? makeRealFiles(dir) : undefined

  test('on every fixture', async () => {
    assert.ok(files)
    const names = readdirSync(FIXTURES).filter((f) => /\.(ya?ml|json)$/.test(f))
    const results = await pool(names, PARALLEL, async (name) => {
      const v = await verdicts(
        load(join(FIXTURES, name)),
        join(dir, 'fixtures', `${name}.yaml`),
        files,
      )
      return { name, v, problem: disagreement(v) }
    })
    const unexpected = results.filter(
      (r) =>
        r.problem !== undefined && KEPT[r.name] === undefined && !isFileRefusal(r.v.envoyOutput),
    )
    assert.deepEqual(
      unexpected.map((r) => `${r.name}: ${r.problem}`),
      [],
    )
    for (const name of Object.keys(KEPT)) {
      const r = results.find((x) => x.name === name)
      assert.ok(
        r?.problem !== undefined,
        `${name} is in KEPT but now agrees: drop it from the list`,
      )
    }
    const rejected = results.filter((r) => !r.v.envoyOk).length
    process.stdout.write(
      `# differential: ${results.length} fixtures, Envoy rejects ${rejected}, kept disagreements ${Object.keys(KEPT).length}\n`,
    )
  })

  test(`on ${MUTATIONS} seeded mutations of the shipped configs (seed ${SEED})`, async () => {
    assert.ok(files)
    const shipped = readdirSync(join(ROOT, 'envoy'))
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .map((f) => join(ROOT, 'envoy', f))
      .concat(join(FIXTURES, 'good.yaml'))
      .sort()
    const bases = shipped.map(load)
    const rand = prng(SEED)
    const cases = Array.from({ length: MUTATIONS }, (_, i) => {
      const base = i % bases.length
      const { value, what } = mutate(bases[base], rand)
      return { i, from: shipped[base]?.slice(ROOT.length) ?? '', value, what }
    })
    let rejected = 0
    let excluded = 0
    let kept = 0
    const results = await pool(cases, PARALLEL, async (c) => {
      const v = await verdicts(c.value, join(dir, 'mutations', `${c.i}.yaml`), files)
      if (!v.envoyOk) rejected++
      if (isFileRefusal(v.envoyOutput)) {
        excluded++
        return undefined
      }
      const problem = disagreement(v)
      if (problem === undefined) return undefined
      if (!v.envoyOk && KEPT_REFUSALS.some(([re]) => re.test(v.envoyOutput))) {
        kept++
        return undefined
      }
      return `#${c.i} ${c.from} (${c.what}): ${problem}`
    })
    const problems = results.filter((r) => r !== undefined)
    process.stdout.write(
      `# differential: ${cases.length} mutations, Envoy rejects ${rejected}, excluded (files) ${excluded}, kept (KEPT_REFUSALS) ${kept}, disagreements ${problems.length}\n`,
    )
    assert.deepEqual(problems, [])
  })
})
