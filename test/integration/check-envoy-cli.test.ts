import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const FIXTURES = 'test/fixtures/envoy-check/'
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, 'check-envoy', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: ROOT,
  })

/**
 * Every Envoy config the project ships, including ones added under envoy/ later; *.sds.yaml are
 * SDS resources (DiscoveryResponse files read by envoy/sds-path/envoy-sds-path.yaml), not
 * bootstraps.
 */
function shippedConfigs(): string[] {
  return readdirSync(join(ROOT, 'envoy'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('.sds.yaml'))
    .map((f) => join('envoy', f))
    .sort()
}

describe('extproc-authz check-envoy', () => {
  test('every shipped Envoy config under envoy/ passes with no errors (also with XFCC identity on)', () => {
    const files = shippedConfigs()
    assert.ok(
      ['envoy.yaml', 'envoy-xfcc.yaml', 'envoy-sds.yaml', 'sds-path/envoy-sds-path.yaml'].every(
        (f) => files.includes(`envoy/${f}`),
      ),
      files.join(),
    )
    for (const flags of [[], ['--xfcc']]) {
      const r = cli(...flags, ...files)
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.doesNotMatch(r.stdout, /: error: /)
      assert.match(r.stdout, new RegExp(`check-envoy: ${files.length} file\\(s\\), 0 error\\(s\\)`))
    }
  })

  test('an error: exit 1, one line FILE:PATH: error: message [rule], and a summary', () => {
    const file = `${FIXTURES}failure-mode-allow.yaml`
    const r = cli(file)
    assert.equal(r.status, 1)
    assert.equal(
      r.stdout.split('\n')[0],
      `${file}:static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.failure_mode_allow: error: failure_mode_allow: true lets requests through when the processor fails (fail open) [ext-proc-failure-mode-allow]`,
    )
    assert.match(r.stdout, /^check-envoy: 1 file\(s\), 1 error\(s\), 0 warning\(s\)$/m)
  })

  test('warnings exit 0, or 1 with --warnings-as-errors', () => {
    const file = `${FIXTURES}response-headers.yaml`
    const r = cli(file)
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /: warning: .*\[ext-proc-response-headers\]/)
    assert.equal(cli('--warnings-as-errors', file).status, 1)
  })

  test('--json gives the findings per file', () => {
    const r = cli('--json', `${FIXTURES}good.yaml`, `${FIXTURES}cluster-missing.yaml`)
    assert.equal(r.status, 1)
    const out = JSON.parse(r.stdout) as {
      files: { file: string; findings: { rule: string; severity: string }[] }[]
      errors: number
      ok: boolean
    }
    assert.equal(out.ok, false)
    assert.equal(out.errors, 1)
    assert.deepEqual(
      out.files.map((f) => [f.file, f.findings.map((x) => `${x.severity} ${x.rule}`)]),
      [
        [`${FIXTURES}good.yaml`, []],
        [`${FIXTURES}cluster-missing.yaml`, ['error ext-proc-cluster-missing']],
      ],
    )
  })

  test('--config: XFCC identity and spiffe rules come from the processor config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-envoy-'))
    const xfcc = join(dir, 'xfcc.yaml')
    writeFileSync(
      xfcc,
      'identity: { xfcc: { enabled: true } }\npolicy:\n  rules:\n    - { name: all, path: /**, any_of: [{ spiffe: { trust_domains: [example.org] } }] }\n',
    )
    assert.equal(cli('--config', xfcc, `${FIXTURES}xfcc-forward.yaml`).status, 1)
    assert.equal(cli(`${FIXTURES}xfcc-forward.yaml`).status, 0)
    const tokensOnly = join(dir, 'public.yaml')
    writeFileSync(tokensOnly, 'policy:\n  rules:\n    - { name: all, path: /**, public: true }\n')
    const noCert = `${FIXTURES}no-client-cert.yaml`
    assert.match(cli(noCert).stdout, /\[listener-client-cert\]/)
    assert.doesNotMatch(cli('--config', tokensOnly, noCert).stdout, /listener-client-cert/)
  })

  test('--min-message-timeout sets the floor', () => {
    assert.equal(cli('--min-message-timeout', '2s', `${FIXTURES}good.yaml`).status, 1)
    assert.equal(
      cli('--min-message-timeout', '250ms', `${FIXTURES}message-timeout-short.yaml`).status,
      0,
    )
  })

  test('usage and unreadable files exit 2', () => {
    assert.equal(cli().status, 2)
    assert.equal(cli('--bogus', `${FIXTURES}good.yaml`).status, 2)
    assert.equal(cli('--min-message-timeout', 'soon', `${FIXTURES}good.yaml`).status, 2)
    const missing = cli(`${FIXTURES}does-not-exist.yaml`)
    assert.equal(missing.status, 2)
    assert.match(missing.stderr, /does-not-exist\.yaml: cannot read the file \(ENOENT\)/)
    const dir = mkdtempSync(join(tmpdir(), 'check-envoy-'))
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'static_resources: {\n')
    assert.equal(cli(broken).status, 2)
    const txt = join(dir, 'bootstrap.pb_text')
    writeFileSync(txt, 'static_resources {}\n')
    assert.equal(cli(txt).status, 2)
    const badConfig = join(dir, 'bad-config.yaml')
    writeFileSync(badConfig, 'policy: 3\n')
    assert.equal(cli('--config', badConfig, `${FIXTURES}good.yaml`).status, 2)
  })

  test('--help', () => {
    const r = cli('--help')
    assert.equal(r.status, 0)
    assert.match(r.stdout, /Usage: extproc-authz check-envoy FILE\.\.\./)
  })
})
