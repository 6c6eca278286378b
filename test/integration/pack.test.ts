import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { type ChildServer, startChildServer } from '../helpers/child-server.js'
import {
  type ExampleSetup,
  LIVE_SESSION,
  materializeExample,
  PROCESSOR_ID,
} from '../helpers/example-config.js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'

// The package as a user gets it: `npm pack`, the tarball installed into an empty directory, and
// the installed `extproc-authz` run from there (no file of this checkout on its path): serve,
// check-envoy, token and probe.
//
// Installing needs the dependencies without a network. `npm install <tarball>` would ask the
// registry for every dependency's metadata; `npm ci --offline` needs only tarballs, which
// `make install` (npm ci) leaves in the npm cache. So the empty directory gets a package.json
// naming the tarball and a lockfile made from this repository's package-lock.json: the
// production dependencies at the versions and integrity hashes the project locks.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

interface LockEntry {
  readonly version?: string
  readonly dev?: boolean
  readonly devOptional?: boolean
  readonly license?: string
  readonly dependencies?: Record<string, string>
  readonly bin?: Record<string, string>
  readonly engines?: Record<string, string>
}

function run(
  cmd: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, timeout: 120_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The app's lockfile: the tarball, and the project's production dependencies as locked. */
function appLock(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  const root = lock.packages[''] as LockEntry
  const packages: Record<string, unknown> = {
    '': { dependencies: { 'extproc-authz': tarball } },
    'node_modules/extproc-authz': {
      version: root.version,
      resolved: tarball,
      license: root.license,
      dependencies: root.dependencies,
      bin: root.bin,
      engines: root.engines,
    },
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && !entry.dev && !entry.devOptional) packages[path] = entry
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages }
}

describe('the npm package, installed from its tarball', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pack-'))
  const app = join(dir, 'app')
  const installed = join(app, 'node_modules/extproc-authz')
  const main = join(installed, 'dist/src/cli/main.js')
  const cli = (...args: string[]) => run(process.execPath, [main, ...args], app)
  let example: ExampleSetup | undefined
  let server: ChildServer | undefined

  before(async () => {
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--silent'], ROOT)
    assert.equal(packed.code, 0, packed.stderr)
    const name = packed.stdout.trim().split('\n').pop() as string
    const tarball = `file:../${name}`
    mkdirSync(app)
    const pkg = { private: true, dependencies: { 'extproc-authz': tarball } }
    writeFileSync(join(app, 'package.json'), JSON.stringify(pkg))
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(tarball)))
    const ci = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app)
    assert.equal(
      ci.code,
      0,
      `npm ci --offline from the npm cache failed (run make install once: npm ci fills the cache)\n${ci.stderr}`,
    )
  })
  after(async () => {
    await server?.stop(1000)
    example?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('holds what serve needs at run time, and no build inputs', () => {
    // dist/proto: the Workload API client's descriptor set (missing, tls.workload_api failed with ENOENT).
    assert.ok(existsSync(join(installed, 'dist/proto/extproc-authz.binpb')))
    assert.ok(existsSync(join(installed, 'dist/src/envoy-check/envoy-api.json')))
    for (const f of [
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'envoy/envoy.yaml',
      'examples/config.yaml',
    ]) {
      assert.ok(existsSync(join(installed, f)), f)
    }
    assert.ok(!existsSync(join(installed, 'proto/vendor')))
    assert.ok(!existsSync(join(installed, 'dist/test')))
    assert.ok(existsSync(join(app, 'node_modules/.bin/extproc-authz')))
    // Only production dependencies came along.
    const modules = readdirSync(join(app, 'node_modules'))
    for (const dev of ['typescript', '@biomejs', '@bufbuild', 'fast-check']) {
      assert.ok(!modules.includes(dev), dev)
    }
  })

  test('check-envoy passes the shipped envoy.yaml and fails a fail-open one (exit 1)', async () => {
    const ok = await cli('check-envoy', join(installed, 'envoy/envoy.yaml'))
    assert.equal(ok.code, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout + ok.stderr, /0 error\(s\)/)
    const open = join(dir, 'open.yaml')
    writeFileSync(
      open,
      readFileSync(join(installed, 'envoy/envoy.yaml'), 'utf8').replace(
        'failure_mode_allow: false',
        'failure_mode_allow: true',
      ),
    )
    const bad = await cli('check-envoy', open)
    assert.equal(bad.code, 1, bad.stdout + bad.stderr)
    assert.match(bad.stdout + bad.stderr, /failure_mode_allow/)
  })

  test('serves examples/config.yaml (Workload API mTLS, runner tokens, session registry, admin); probe asks it', async () => {
    example = await materializeExample()
    server = await startChildServer(example.config, { main, cwd: app, startMs: 30_000 })
    const token = async (session: string) => {
      const r = await cli(
        'token',
        'encrypt',
        '--public-key',
        example?.publicKeyFile ?? '',
        '--session-id',
        session,
      )
      assert.equal(r.code, 0, r.stderr)
      return r.stdout.trim()
    }
    const creds = grpc.credentials.createSsl(
      Buffer.from(example.ca.certPem),
      Buffer.from(example.envoy.keyPem),
      Buffer.from(example.envoy.certPem),
    )
    const client = newClient(server.port, creds, { 'grpc.ssl_target_name_override': 'localhost' })
    const ask = async (session: string, bearer: string) =>
      (
        await exchange(client, [
          requestHeaders(
            {
              ':method': 'GET',
              ':path': `/api/sessions/${session}/logs`,
              ':authority': 'runners.example.org',
              authorization: `Bearer ${bearer}`,
            },
            {
              attributes: {
                'connection.uri_san_peer_certificate': 'spiffe://example.org/ns/ci/sa/runner',
              },
            },
          ),
        ])
      ).responses[0]
    try {
      const allowed = allowMutation(await ask(LIVE_SESSION, await token(LIVE_SESSION)))
      assert.equal(allowed.set.get('x-runner-session-id'), LIVE_SESSION)
      assert.equal(allowed.set.get('x-spiffe-id'), 'spiffe://example.org/ns/ci/sa/runner')
      assert.ok(allowed.remove.includes('authorization'))
      const gone = denyOf(await ask('s-9', await token('s-9')))
      assert.deepEqual([gone.status, gone.reason], [403, 'session_not_live'])
      const garbage = denyOf(await ask(LIVE_SESSION, 'bm90LWEtdG9rZW4='))
      assert.deepEqual([garbage.status, garbage.reason], [401, 'token_invalid'])
    } finally {
      client.close()
    }
    // probe, from the installed package: the same requests as Envoy would send them, over mTLS
    // with Envoy's SVID, checking the processor's SPIFFE ID.
    const files = join(dir, 'probe')
    mkdirSync(files)
    writeFileSync(join(files, 'ca.pem'), example.ca.certPem)
    writeFileSync(join(files, 'envoy.pem'), example.envoy.certPem)
    writeFileSync(join(files, 'envoy-key.pem'), example.envoy.keyPem, { mode: 0o600 })
    const probe = (...args: string[]) =>
      cli(
        'probe',
        '--target',
        `localhost:${server?.port}`,
        '--ca',
        join(files, 'ca.pem'),
        '--cert',
        join(files, 'envoy.pem'),
        '--key',
        join(files, 'envoy-key.pem'),
        '--server-id',
        PROCESSOR_ID,
        '--host',
        'runners.example.org',
        '--peer',
        'spiffe://example.org/ns/ci/sa/runner',
        '--public-key',
        example?.publicKeyFile ?? '',
        '--json',
        ...args,
      )
    const allow = await probe(
      '--path',
      `/api/sessions/${LIVE_SESSION}/logs`,
      '--token-session',
      LIVE_SESSION,
    )
    assert.equal(allow.code, 0, allow.stdout + allow.stderr)
    assert.equal(JSON.parse(allow.stdout).decision, 'allow')
    const deny = await probe('--path', '/api/sessions/s-9/logs', '--token-session', 's-9')
    assert.equal(deny.code, 3, deny.stdout + deny.stderr)
    assert.deepEqual(
      (({ decision, status, reason }) => ({ decision, status, reason }))(JSON.parse(deny.stdout)),
      { decision: 'deny', status: 403, reason: 'session_not_live' },
    )

    const admin = `http://127.0.0.1:${server.adminPort}`
    assert.equal((await fetch(`${admin}/readyz`)).status, 200)
    const metrics = await (await fetch(`${admin}/metrics`)).text()
    assert.match(metrics, /^extproc_authz_token_keys_loaded 1$/m)
    // One allow from the gRPC client above, one from probe.
    assert.match(
      metrics,
      /^extproc_authz_decisions_total\{decision="allow",reason="allowed",rule="runner-logs"\} 2$/m,
    )
  })
})
