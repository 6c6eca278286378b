import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { writeKeyPair } from '../../src/tokens/generate-keypair.js'

// Every documented mistake, walked through the CLI as a user makes it: one line on stderr that
// names the file, key or flag (no stack frames), and the documented exit code (docs/cli.md).
// With --json the failure is one JSON object on stdout instead.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

interface Mistake {
  readonly name: string
  /** The command line after `extproc-authz`; `D` is the fixture directory, `P` a busy port. */
  readonly args: (f: Fixture) => string[]
  readonly exit: 1 | 2
  /** Matched against the one stderr line after `extproc-authz <command>: `. */
  readonly line: (f: Fixture) => RegExp
  /** Longer than a plain start: waits for the Workload API. */
  readonly slow?: boolean
}

interface Fixture {
  readonly D: string
  readonly P: number
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const MISTAKES: readonly Mistake[] = [
  // keys
  {
    name: 'keys generate into a directory that already holds a key',
    args: ({ D }) => ['keys', 'generate', '--out', join(D, 'keys'), '--bits', '2048'],
    exit: 1,
    line: ({ D }) =>
      new RegExp(`^${esc(join(D, 'keys', 'private.pem'))}: a key is already there \\(.*--out`),
  },
  {
    name: 'keys generate under a regular file (unwritable)',
    args: ({ D }) => ['keys', 'generate', '--out', join(D, 'not-a-dir.txt', 'k'), '--bits', '2048'],
    exit: 1,
    line: ({ D }) => new RegExp(`^${esc(join(D, 'not-a-dir.txt', 'k'))}: cannot write .*ENOTDIR`),
  },
  {
    name: 'keys generate --out naming a file',
    args: ({ D }) => ['keys', 'generate', '--out', join(D, 'not-a-dir.txt'), '--bits', '2048'],
    exit: 1,
    line: ({ D }) => new RegExp(`^${esc(join(D, 'not-a-dir.txt'))}: not a directory`),
  },
  {
    name: 'keys generate without --out',
    args: () => ['keys', 'generate'],
    exit: 2,
    line: () => /--out DIR is required/,
  },
  {
    name: 'keys generate --bits 1000',
    args: ({ D }) => ['keys', 'generate', '--out', join(D, 'k2'), '--bits', '1000'],
    exit: 2,
    line: () => /--bits must be 2048, 3072 or 4096/,
  },
  {
    name: 'keys public with a missing key file',
    args: ({ D }) => ['keys', 'public', '--private-key', join(D, 'missing.pem')],
    exit: 2,
    line: ({ D }) => new RegExp(`${esc(join(D, 'missing.pem'))}: cannot read \\(ENOENT\\)`),
  },
  {
    name: 'keys public with a public-only key',
    args: ({ D }) => ['keys', 'public', '--private-key', join(D, 'keys', 'public.pem')],
    exit: 2,
    line: ({ D }) => new RegExp(`${esc(join(D, 'keys', 'public.pem'))}: not a PEM private key`),
  },
  // token
  {
    name: 'token encrypt --public-key missing',
    args: ({ D }) => [
      'token',
      'encrypt',
      '--public-key',
      join(D, 'missing.pem'),
      '--session-id',
      's',
    ],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^--public-key ${esc(join(D, 'missing.pem'))}: cannot read the file \\(ENOENT\\)`),
  },
  {
    name: 'token encrypt --public-key not PEM',
    args: ({ D }) => [
      'token',
      'encrypt',
      '--public-key',
      join(D, 'not-a-dir.txt'),
      '--session-id',
      's',
    ],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^--public-key ${esc(join(D, 'not-a-dir.txt'))}: not a PEM public key`),
  },
  {
    name: 'token encrypt --ttl malformed',
    args: ({ D }) => [
      'token',
      'encrypt',
      '--public-key',
      join(D, 'keys', 'public.pem'),
      '--session-id',
      's',
      '--jwe',
      '--ttl',
      'soon',
    ],
    exit: 2,
    line: () => /--ttl: expected e\.g\. 90s/,
  },
  {
    name: 'token decrypt with a missing key file',
    args: ({ D }) => ['token', 'decrypt', '--private-key', join(D, 'missing.pem'), '--token', 'x'],
    exit: 2,
    line: ({ D }) => new RegExp(`${esc(join(D, 'missing.pem'))}: cannot read \\(ENOENT\\)`),
  },
  {
    name: 'token decrypt with a public-only key',
    args: ({ D }) => [
      'token',
      'decrypt',
      '--private-key',
      join(D, 'keys', 'public.pem'),
      '--token',
      'x',
    ],
    exit: 2,
    line: ({ D }) => new RegExp(`${esc(join(D, 'keys', 'public.pem'))}: not a PEM private key`),
  },
  // policy test
  {
    name: 'policy test with a missing cases file',
    args: ({ D }) => ['policy', 'test', join(D, 'ok.yaml'), join(D, 'missing-cases.yaml')],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^${esc(join(D, 'missing-cases.yaml'))}: cannot read the file \\(ENOENT\\)`),
  },
  {
    name: 'policy test with decision: permit',
    args: ({ D }) => ['policy', 'test', join(D, 'ok.yaml'), join(D, 'permit.yaml')],
    exit: 2,
    line: ({ D }) =>
      new RegExp(
        `^${esc(join(D, 'permit.yaml'))}: invalid cases file: cases\\[0\\]\\.expect\\.decision: expected one of "allow", "deny", found a string "permit"$`,
      ),
  },
  {
    name: 'policy test with status: "200"',
    args: ({ D }) => ['policy', 'test', join(D, 'ok.yaml'), join(D, 'status.yaml')],
    exit: 2,
    line: () => /cases\[0\]\.expect\.status: expected number, found a string "200"$/,
  },
  {
    name: 'policy test with a missing config',
    args: ({ D }) => ['policy', 'test', join(D, 'missing.yaml'), '--path', '/'],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^${esc(join(D, 'missing.yaml'))}: cannot read the file \\(ENOENT\\)`),
  },
  // serve
  {
    name: 'serve --listen banana',
    args: () => ['serve', '--listen', 'banana'],
    exit: 2,
    line: () => /^--listen: expected host:port .*found a string "banana"/,
  },
  {
    name: 'serve --listen 127.0.0.1:99999',
    args: () => ['serve', '--listen', '127.0.0.1:99999'],
    exit: 2,
    line: () => /^--listen: expected host:port with a port from 0 to 65535/,
  },
  {
    name: 'serve --workers 0',
    args: () => ['serve', '--workers', '0'],
    exit: 2,
    line: () => /^--workers: .*>=1, found a number 0/,
  },
  {
    name: 'serve on a port in use',
    args: ({ P }) => ['serve', '--listen', `127.0.0.1:${P}`],
    exit: 1,
    line: ({ P }) =>
      new RegExp(`^listen: cannot listen on 127\\.0\\.0\\.1:${P}: address already in use`),
  },
  {
    name: 'serve with admin.listen on a port in use',
    args: ({ D }) => ['serve', '--config', join(D, 'admin-busy.yaml')],
    exit: 1,
    line: ({ P }) =>
      new RegExp(`^admin\\.listen: cannot listen on 127\\.0\\.0\\.1:${P}: address already in use`),
  },
  {
    name: 'serve --config missing',
    args: ({ D }) => ['serve', '--config', join(D, 'missing.yaml')],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^${esc(join(D, 'missing.yaml'))}: cannot read the file \\(ENOENT\\)`),
  },
  {
    name: 'serve --config with a bad rule path',
    args: ({ D }) => ['serve', '--config', join(D, 'bad-rule.yaml')],
    exit: 1,
    line: ({ D }) =>
      new RegExp(
        `^${esc(join(D, 'bad-rule.yaml'))}: invalid configuration: policy\\.rules\\[0\\]\\.path: `,
      ),
  },
  {
    name: 'serve --config with a public key as runner key',
    args: ({ D }) => ['serve', '--config', join(D, 'public-key.yaml')],
    exit: 1,
    line: ({ D }) =>
      new RegExp(
        `^${esc(join(D, 'public-key.yaml'))}: invalid configuration: runner_tokens\\.private_keys\\[1\\]: ${esc(join(D, 'keys', 'public.pem'))}: not a PEM private key`,
      ),
  },
  {
    name: 'serve --config with a missing serving certificate',
    args: ({ D }) => ['serve', '--config', join(D, 'tls-missing.yaml')],
    exit: 1,
    line: () => /: invalid configuration: tls\.cert_file: .*nope\.pem: cannot read \(ENOENT\)/,
  },
  {
    name: 'serve with an unreachable Workload API',
    args: ({ D }) => ['serve', '--config', join(D, 'workload-1s.yaml')],
    exit: 1,
    line: () =>
      /^tls\.workload_api: no usable X\.509-SVID .* within 1 s .*\(is the SPIFFE agent running/,
  },
  {
    name: 'serve with a missing logging.hash_key_file',
    args: ({ D }) => ['serve', '--config', join(D, 'hash-key.yaml')],
    exit: 1,
    line: () =>
      /: invalid configuration: logging\.hash_key_file: .*no-key\.bin: cannot be read \(ENOENT\)/,
  },
  // config check: every check serve runs at start
  {
    name: 'config check with a missing file',
    args: ({ D }) => ['config', 'check', join(D, 'missing.yaml')],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^${esc(join(D, 'missing.yaml'))}: cannot read the file \\(ENOENT\\)`),
  },
  {
    name: 'config check with listen 127.0.0.1:99999',
    args: ({ D }) => ['config', 'check', join(D, 'listen.yaml')],
    exit: 1,
    line: () => /: invalid configuration: listen: expected host:port with a port from 0 to 65535/,
  },
  {
    name: 'config check with a public key as the second runner key',
    args: ({ D }) => ['config', 'check', join(D, 'public-key.yaml')],
    exit: 1,
    line: () =>
      /: invalid configuration: runner_tokens\.private_keys\[1\]: .*not a PEM private key/,
  },
  {
    name: 'config check with a missing serving certificate',
    args: ({ D }) => ['config', 'check', join(D, 'tls-missing.yaml')],
    exit: 1,
    line: () => /: invalid configuration: tls\.cert_file: .*nope\.pem: cannot read \(ENOENT\)/,
  },
  {
    name: 'config check with a bundle that is no PEM',
    args: ({ D }) => ['config', 'check', join(D, 'tls-bundle.yaml')],
    exit: 1,
    line: () => /: invalid configuration: tls\.bundles\.example\.org: .*holds no PEM certificate/,
  },
  {
    name: 'config check with a missing session registry file',
    args: ({ D }) => ['config', 'check', join(D, 'registry.yaml')],
    exit: 1,
    line: () => /: invalid configuration: session_registry\.source\.path: .*live\.txt: cannot read/,
  },
  {
    name: 'config check with an unreachable Workload API',
    args: ({ D }) => ['config', 'check', join(D, 'workload.yaml')],
    exit: 1,
    line: () => /: invalid configuration: tls\.workload_api: no usable X\.509-SVID .* within 5 s/,
    slow: true,
  },
  // check-envoy, certs, probe, and the CLI itself
  {
    name: 'check-envoy with a missing file',
    args: ({ D }) => ['check-envoy', join(D, 'missing.yaml')],
    exit: 2,
    line: () => /missing\.yaml: cannot read the file \(ENOENT\)/,
  },
  {
    name: 'certs generate --days 0',
    args: ({ D }) => ['certs', 'generate', '--out', join(D, 'pki'), '--days', '0'],
    exit: 2,
    line: () => /--days must be a whole number of days/,
  },
  {
    name: 'probe without --path',
    args: () => ['probe'],
    exit: 2,
    line: () => /^--path: required/,
  },
  {
    name: 'probe --target banana',
    args: () => ['probe', '--path', '/', '--target', 'banana'],
    exit: 2,
    line: () => /^--target: expected host:port/,
  },
  {
    name: 'probe with --ca alone',
    args: ({ D }) => ['probe', '--path', '/', '--ca', join(D, 'x.pem')],
    exit: 2,
    line: () => /mTLS needs --ca, --cert and --key; missing --cert, --key/,
  },
  {
    name: 'probe --token-session with a missing public key',
    args: ({ D }) => [
      'probe',
      '--path',
      '/',
      '--token-session',
      's',
      '--public-key',
      join(D, 'missing.pem'),
    ],
    exit: 2,
    line: ({ D }) =>
      new RegExp(`^--public-key ${esc(join(D, 'missing.pem'))}: cannot read the file`),
  },
  {
    name: 'probe at a port that does not answer gRPC',
    args: ({ P }) => ['probe', '--path', '/', '--target', `127.0.0.1:${P}`, '--timeout', '2000'],
    exit: 1,
    line: () => /^(cannot reach the processor|no answer from) .*127\.0\.0\.1:/,
  },
  {
    name: 'an unknown option',
    args: () => ['config', 'check', '--nope'],
    exit: 2,
    line: () => /^Unknown option '--nope' \(see 'extproc-authz config --help'\)$/,
  },
]

function cli(args: readonly string[], timeout = 20_000) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout })
}

describe('every CLI mistake: one line naming the file, key or flag, and the exit code', () => {
  const D = mkdtempSync(join(tmpdir(), 'cli-errors-'))
  let busy: Server
  let P = 0
  before(async () => {
    busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    P = (busy.address() as { port: number }).port
    await writeKeyPair(join(D, 'keys', 'private.pem'), 2048)
    mkdirSync(join(D, 'pki'))
    const key = join(D, 'keys', 'private.pem')
    const files: Record<string, string> = {
      'not-a-dir.txt': 'hello\n',
      'ok.yaml': 'policy:\n  rules: []\n',
      'permit.yaml':
        'cases:\n  - name: a\n    request: { path: / }\n    expect: { decision: permit }\n',
      'status.yaml':
        'cases:\n  - name: a\n    request: { path: / }\n    expect: { decision: deny, status: "200" }\n',
      'listen.yaml': 'listen: 127.0.0.1:99999\npolicy:\n  rules: []\n',
      'admin-busy.yaml': `listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:${P}\npolicy:\n  rules: []\n`,
      'bad-rule.yaml':
        'listen: 127.0.0.1:0\npolicy:\n  rules:\n    - { name: r, path: nope, public: true }\n',
      'public-key.yaml': `listen: 127.0.0.1:0\nrunner_tokens:\n  private_keys: [${key}, ${join(D, 'keys', 'public.pem')}]\npolicy:\n  rules: []\n`,
      'tls-missing.yaml': `tls:\n  cert_file: ${join(D, 'nope.pem')}\n  key_file: ${key}\n  bundles: { example.org: ${join(D, 'not-a-dir.txt')} }\n  allowed_peers: [example.org]\npolicy:\n  rules: []\n`,
      'tls-bundle.yaml': `tls:\n  cert_file: ${join(D, 'pki', 'processor.pem')}\n  key_file: ${join(D, 'pki', 'processor-key.pem')}\n  bundles: { example.org: ${join(D, 'not-a-dir.txt')} }\n  allowed_peers: [example.org]\npolicy:\n  rules: []\n`,
      'registry.yaml': `runner_tokens:\n  private_keys: [${key}]\nsession_registry:\n  source: { kind: file, path: ${join(D, 'live.txt')} }\npolicy:\n  rules: []\n`,
      'workload-1s.yaml': `listen: 127.0.0.1:0\ntls:\n  workload_api: { socket: "unix://${join(D, 'no-agent.sock')}", start_timeout_seconds: 1 }\n  allowed_peers: [example.org]\npolicy:\n  rules: []\n`,
      'hash-key.yaml': `listen: 127.0.0.1:0\nlogging:\n  hash_key_file: ${join(D, 'no-key.bin')}\npolicy:\n  rules: []\n`,
      'workload.yaml': `tls:\n  workload_api: { socket: "unix://${join(D, 'no-agent.sock')}" }\n  allowed_peers: [example.org]\npolicy:\n  rules: []\n`,
    }
    for (const [name, text] of Object.entries(files)) writeFileSync(join(D, name), text)
    const certs = cli(['certs', 'generate', '--out', join(D, 'pki'), '--days', '2'])
    assert.equal(certs.status, 0, certs.stderr)
  })
  after(() => busy.close())

  for (const m of MISTAKES) {
    test(m.name, () => {
      const f = { D, P }
      const args = m.args(f)
      const r = cli(args, m.slow ? 30_000 : 20_000)
      const command = args[0] as string
      const lines = r.stderr.split('\n').filter((l) => l !== '')
      assert.equal(lines.length, 1, `one stderr line, got:\n${r.stderr}`)
      assert.doesNotMatch(r.stderr, /^ {4}at /m)
      const prefix = `extproc-authz ${command}: `
      const line = lines[0] as string
      assert.ok(line.startsWith(prefix), line)
      assert.match(line.slice(prefix.length), m.line(f))
      assert.equal(r.status, m.exit, line)
      assert.doesNotMatch(r.stdout, /serving/, 'nothing says "serving" before failing')
    })
  }

  test('--json reports a failure as one JSON object on stdout, nothing on stderr', () => {
    const invalid = cli(['config', 'check', '--json', join(D, 'listen.yaml')])
    assert.equal(invalid.status, 1)
    assert.equal(invalid.stderr, '')
    const body = JSON.parse(invalid.stdout) as { ok: boolean; error: Record<string, unknown> }
    assert.equal(body.ok, false)
    assert.equal(body.error.code, 'ERR_CONFIG_INVALID')
    assert.equal(body.error.file, join(D, 'listen.yaml'))
    assert.equal(body.error.key_path, 'listen')
    assert.equal(body.error.exit_code, 1)
    const missing = cli(['config', 'check', '--json', join(D, 'missing.yaml')])
    assert.equal(missing.status, 2)
    assert.equal(missing.stderr, '')
    const m = JSON.parse(missing.stdout) as { error: Record<string, unknown> }
    assert.equal(m.error.code, 'ERR_FILE_UNREADABLE')
    const usage = cli(['probe', '--json'])
    assert.equal(usage.status, 2)
    assert.equal((JSON.parse(usage.stdout) as { error: { flag: string } }).error.flag, '--path')
  })

  test('--debug adds the stack trace', () => {
    const r = cli([
      'token',
      'encrypt',
      '--debug',
      '--public-key',
      join(D, 'missing.pem'),
      '--session-id',
      's',
    ])
    assert.equal(r.status, 2)
    assert.match(
      r.stderr,
      /^extproc-authz token: --public-key .*missing\.pem: cannot read the file/,
    )
    assert.match(r.stderr, /^ {4}at /m)
  })
})
