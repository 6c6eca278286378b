import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
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
  test('the shipped Envoy configs (and SDS resource files): SDS ones with no finding, static-file ones with only the certificate warning', () => {
    const files = shippedConfigs()
    assert.ok(
      ['envoy.yaml', 'envoy-xfcc.yaml', 'envoy-sds.yaml', 'sds-path/envoy-sds-path.yaml'].every(
        (f) => files.includes(`envoy/${f}`),
      ),
      files.join(),
    )
    for (const file of files) {
      for (const flags of [[], ['--xfcc']]) {
        if (flags.length > 0 && !file.includes('xfcc')) continue
        const r = cli('--json', ...flags, file)
        const out = JSON.parse(r.stdout) as { files: { findings: { rule: string }[] }[] }
        const rules = new Set(out.files[0]?.findings.map((f) => f.rule))
        // SDS resource files name certificate files too, but Envoy watches those.
        const text = readFileSync(join(ROOT, file), 'utf8')
        const staticFiles = /^static_resources:/m.test(text) && /filename:/.test(text)
        assert.deepEqual(
          [...rules],
          staticFiles ? ['tls-static-certificates'] : [],
          `${file} ${flags.join(' ')}: ${r.stdout}`,
        )
        assert.equal(r.status, 0, r.stdout + r.stderr)
      }
    }
  })

  test('an error: exit 1, one line FILE:LINE:COL: error: message [rule], and a summary', () => {
    const file = `${FIXTURES}failure-mode-allow.yaml`
    const r = cli(file)
    assert.equal(r.status, 1)
    assert.equal(
      r.stdout.split('\n')[0],
      `${file}:56:15: error: failure_mode_allow: true lets requests through when the processor fails (fail open) [ext-proc-failure-mode-allow]`,
    )
    assert.match(
      r.stdout,
      /^check-envoy: 1 file\(s\), 1 error\(s\), 0 warning\(s\) \[Envoy API 1\.40\.0 \(github\.com\/envoyproxy\/go-control-plane\/envoy@v1\.40\.0\)\]$/m,
    )
  })

  test('lines and columns point at the key (YAML) or the property (JSON)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-envoy-'))
    const yaml = join(dir, 'admin.yaml')
    writeFileSync(
      yaml,
      'admin:\n  address:\n    socket_address: { address: 0.0.0.0, port_value: 9901 }\n',
    )
    const r = cli(yaml)
    assert.match(
      r.stdout,
      new RegExp(
        `^${yaml}:3:23: error: admin listens on 0\\.0\\.0\\.0.*\\[admin-off-loopback\\]$`,
        'm',
      ),
    )
    const json = join(dir, 'admin.json')
    writeFileSync(
      json,
      '{\n  "admin": {\n    "address": {\n      "socket_address": {\n        "address": "0.0.0.0",\n        "port_value": 9901\n      }\n    }\n  }\n}\n',
    )
    assert.match(
      cli(json).stdout,
      new RegExp(`^${json}:5:9: error: .*\\[admin-off-loopback\\]$`, 'm'),
    )
    const out = JSON.parse(cli('--json', json).stdout) as {
      files: { findings: { path: string; line: number; column: number }[] }[]
    }
    const admin = out.files[0]?.findings.find(
      (f) => f.path === 'admin.address.socket_address.address',
    )
    assert.deepEqual([admin?.line, admin?.column], [5, 9])
  })

  test('--version names the Envoy API version, and every JSON report carries it', () => {
    const version = cli('--version')
    assert.equal(version.status, 0)
    const pinned = readFileSync(join(ROOT, 'envoy/VERSION'), 'utf8').trim()
    assert.equal(
      version.stdout,
      `check-envoy: Envoy API ${pinned} (github.com/envoyproxy/go-control-plane/envoy@v${pinned})\n`,
    )
    const out = JSON.parse(cli('--json', `${FIXTURES}good.yaml`).stdout) as {
      api: { envoy: string; source: string }
    }
    assert.deepEqual(out.api, {
      envoy: pinned,
      source: `github.com/envoyproxy/go-control-plane/envoy@v${pinned}`,
    })
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

  test('--config with decision metadata on: the ext_proc filter must receive its namespace', () => {
    const lab = join(ROOT, 'lab', 'config.yaml')
    const rules = (file: string) =>
      (
        JSON.parse(cli('--json', '--config', lab, file).stdout) as {
          files: { findings: { rule: string }[] }[]
        }
      ).files[0]?.findings.map((f) => f.rule)
    assert.deepEqual(rules(`${FIXTURES}good.yaml`), ['ext-proc-metadata-namespace'])
    assert.deepEqual(rules('envoy/envoy.yaml'), [
      'tls-static-certificates',
      'tls-static-certificates',
    ])
    const dir = mkdtempSync(join(tmpdir(), 'check-envoy-'))
    const off = join(dir, 'off.yaml')
    writeFileSync(off, `${readFileSync(lab, 'utf8')}\ndecision_metadata: { enabled: false }\n`)
    const r = cli('--json', '--config', off, `${FIXTURES}good.yaml`)
    assert.deepEqual(JSON.parse(r.stdout).files[0].findings, [])
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
