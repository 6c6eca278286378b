import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startServer } from '../../src/app/server.js'
import { parseConfig } from '../../src/config/load-config.js'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { createLogger } from '../../src/shared/logger.js'

/**
 * Counts the file watchers and intervals opened from now on and not yet closed (the watchers and
 * polls of key, certificate and hash key files are unref'd, so the loop would not show them).
 */
function trackOpened() {
  const watchers = new Set<fs.FSWatcher>()
  const intervals = new Set<unknown>()
  const { watch } = fs
  const { setInterval: setIntervalBefore, clearInterval: clearIntervalBefore } = globalThis
  fs.watch = ((...args: Parameters<typeof fs.watch>) => {
    const w = watch(...args)
    watchers.add(w)
    const close = w.close.bind(w)
    w.close = () => {
      watchers.delete(w)
      close()
    }
    return w
  }) as typeof fs.watch
  syncBuiltinESMExports()
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const t = setIntervalBefore(...args)
    intervals.add(t)
    return t
  }) as typeof setInterval
  globalThis.clearInterval = ((t: Parameters<typeof clearInterval>[0]) => {
    intervals.delete(t)
    clearIntervalBefore(t)
  }) as typeof clearInterval
  return {
    open: () => ({ watchers: watchers.size, intervals: intervals.size }),
    restore() {
      fs.watch = watch
      syncBuiltinESMExports()
      globalThis.setInterval = setIntervalBefore
      globalThis.clearInterval = clearIntervalBefore
    },
  }
}

function listening(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => resolve(s))
  })
}

function portOf(s: Server): number {
  const address = s.address()
  assert.ok(address !== null && typeof address === 'object')
  return address.port
}

// A start that fails closes everything it opened (fail closed): no key, certificate or hash key
// watcher, no poll and no listener stays behind, whichever step failed.
describe('a failed start leaves nothing open', () => {
  let dir: string
  let ca: Issued
  let serving: Issued
  let other: Issued
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'start-failure-'))
    ca = await generateCa('example.org CA')
    serving = await issueLeaf(ca, { uris: ['spiffe://example.org/authz'], dns: ['localhost'] })
    other = await issueLeaf(ca, { uris: ['spiffe://example.org/other'] })
    const key = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    writeFileSync(join(dir, 'runner.pem'), key.privateKey, { mode: 0o600 })
    writeFileSync(join(dir, 'hash.key'), randomBytes(48).toString('base64'), { mode: 0o600 })
    writeFileSync(join(dir, 'cert.pem'), serving.certPem)
    writeFileSync(join(dir, 'bundle.pem'), ca.certPem)
  })
  after(() => rmSync(dir, { recursive: true }))

  const start = async (keyPem: string, listen: string, admin: string) => {
    writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 })
    const config = parseConfig(
      `
listen: ${listen}
admin: { listen: ${admin} }
logging: { hash_key_file: ${join(dir, 'hash.key')} }
runner_tokens: { private_keys: [${join(dir, 'runner.pem')}] }
tls:
  cert_file: ${join(dir, 'cert.pem')}
  key_file: ${join(dir, 'key.pem')}
  bundles: { example.org: ${join(dir, 'bundle.pem')} }
  allowed_peers: [example.org]
policy:
  rules:
    - { name: healthz, path: /healthz, public: true }
`,
      'start-failure.yaml',
    )
    const tracked = trackOpened()
    try {
      const err = await startServer({
        config,
        configSource: 'start-failure.yaml',
        logger: createLogger('silent'),
      }).then(
        async (running) => {
          await running.close(0)
          return undefined
        },
        (e: unknown) => e,
      )
      return { err, open: tracked.open() }
    } finally {
      tracked.restore()
    }
  }

  test('the serving pair is refused: keys and hash key watchers are closed', async () => {
    // The other leaf's key does not match the serving certificate.
    const { err, open } = await start(other.keyPem, '127.0.0.1:0', '127.0.0.1:0')
    assert.ok(err instanceof Error, 'the start did not fail')
    assert.deepEqual(open, { watchers: 0, intervals: 0 })
  })

  test('the admin port is taken: the bound listener is released and every watcher closed', async () => {
    const busy = await listening()
    const free = await listening()
    const port = portOf(free)
    await new Promise((resolve) => free.close(resolve))
    try {
      const { err, open } = await start(
        serving.keyPem,
        `127.0.0.1:${port}`,
        `127.0.0.1:${portOf(busy)}`,
      )
      assert.equal((err as { code?: string }).code, 'ERR_LISTEN_FAILED')
      assert.deepEqual(open, { watchers: 0, intervals: 0 })
      // The processor's port was bound before the admin one failed: it is free again.
      const again = createServer()
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject)
        again.listen(port, '127.0.0.1', resolve)
      })
      await new Promise((resolve) => again.close(resolve))
    } finally {
      await new Promise((resolve) => busy.close(resolve))
    }
  })
})
