import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { defaultConfig } from '../../src/config/default-config.js'
import { parseConfig } from '../../src/config/load-config.js'
import { type ExampleSetup, materializeExample } from '../helpers/example-config.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Runs the CLI without blocking this process: the fake Workload API here must answer it. */
function cli(
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: 30_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

describe('config check and policy test', () => {
  // The shipped example with the files it reads (keys, live sessions, a Workload API).
  let example: ExampleSetup
  before(async () => {
    example = await materializeExample()
  })
  after(() => example.close())

  test('the shipped example policy passes its shipped cases', async () => {
    const r = await cli('policy', 'test', example.config, 'examples/policy-cases.yaml')
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /policy test: (\d+) of \1 cases as expected/)
    assert.doesNotMatch(r.stdout, /^FAIL/m)
  })

  test('the development config (what make run serves) passes its cases, as the Quick start runs them', async () => {
    const r = await cli(
      'policy',
      'test',
      'examples/development.yaml',
      'examples/development-cases.yaml',
    )
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /policy test: (\d+) of \1 cases as expected/)
    assert.deepEqual(
      parseConfig(readFileSync(join(ROOT, 'examples/development.yaml'), 'utf8'), 'dev'),
      defaultConfig(),
      'examples/development.yaml is the embedded default',
    )
  })

  test('a wrong expectation fails with exit 1 and says what differed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-test-'))
    const cases = join(dir, 'cases.yaml')
    writeFileSync(
      cases,
      'cases:\n  - name: admin\n    request: { path: /api/admin/x, peer: spiffe://example.org/a }\n    expect: { decision: allow }\n',
    )
    const r = await cli('policy', 'test', example.config, cases)
    assert.equal(r.status, 1)
    assert.match(
      r.stdout,
      /FAIL admin: expected decision allow; got deny rule=admin-off-limits reason=rule_denies status=403/,
    )
  })

  test('a single request from flags, with a runner session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-flags-'))
    const conf = join(dir, 'c.yaml')
    writeFileSync(
      conf,
      `runner_tokens:\n  private_keys: [${join(dir, 'k.pem')}]\n  generate_if_missing: true\npolicy:\n  rules:\n    - name: s\n      path: /s/{session}\n      any_of:\n        - runner_token: { session_param: session }\n`,
    )
    const ok = await cli('policy', 'test', conf, '--path', '/s/abc', '--session', 'abc')
    assert.equal(ok.status, 0, ok.stderr)
    assert.equal(ok.stdout.trim(), 'allow rule=s reason=allowed status=200')
    const bad = await cli('policy', 'test', conf, '--path', '/s/abc', '--session', 'xyz')
    assert.equal(bad.stdout.trim(), 'deny rule=s reason=session_mismatch status=403')
    const none = await cli('policy', 'test', conf, '--path', '/s/abc')
    assert.equal(none.stdout.trim(), 'deny rule=s reason=token_missing status=401')
  })

  test('config check summarises a valid file and names the key path of problems', async () => {
    const ok = await cli('config', 'check', example.config)
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /config\.yaml: valid/)
    assert.match(ok.stdout, /rules \(first match decides; no match = deny\)/)
    const dir = mkdtempSync(join(tmpdir(), 'config-check-'))
    const bad = join(dir, 'bad.yaml')
    writeFileSync(
      bad,
      `runner_tokens:\n  private_keys: [${join(dir, 'missing.pem')}]\npolicy:\n  rules: []\n`,
    )
    const r = await cli('config', 'check', bad)
    assert.equal(r.status, 1)
    assert.match(
      r.stderr,
      /runner_tokens\.private_keys\[0\]: .*missing\.pem: cannot read \(ENOENT\)/,
    )
    const json = await cli('config', 'check', '--json', example.config)
    assert.equal(JSON.parse(json.stdout).valid, true)
  })

  test('config check reads the log hash key file as serve would, and never prints the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-check-key-'))
    const conf = (keyFile: string) => {
      const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`)
      writeFileSync(
        file,
        `logging: { hash_key_file: ${keyFile} }\npolicy:\n  rules: [{ name: r, path: /x, public: true }]\n`,
      )
      return file
    }
    const short = join(dir, 'short.key')
    writeFileSync(short, 'short-key-material\n')
    const r = await cli('config', 'check', conf(short))
    assert.equal(r.status, 1)
    assert.match(
      r.stderr,
      /logging\.hash_key_file: .*short\.key: holds 18 bytes of key material, fewer than 32/,
    )
    assert.ok(!`${r.stdout}${r.stderr}`.includes('short-key-material'))
    const good = join(dir, 'good.key')
    const key = 'good-key-material-of-at-least-32-bytes'
    writeFileSync(good, key)
    const ok = await cli('config', 'check', conf(good))
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, new RegExp(`log hash key: ${good.replace(/[.]/g, '\\.')}`))
    assert.ok(!`${ok.stdout}${ok.stderr}`.includes(key))
    const json = await cli('config', 'check', '--json', conf(good))
    assert.equal(JSON.parse(json.stdout).log_hash_key, good)
    assert.ok(!json.stdout.includes(key))
  })
})
