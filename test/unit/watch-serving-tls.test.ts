import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import type { ServingTls } from '../../src/pki/serving-tls.js'
import { watchServingTls } from '../../src/pki/watch-serving-tls.js'

/** Replaces `file` atomically with `content` (write a temporary file, rename it over). */
function replace(file: string, content: string) {
  writeFileSync(`${file}.tmp`, content)
  renameSync(`${file}.tmp`, file)
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

// A rotation the listener refuses (its callback throws) is a refused set like a bad file: counted,
// reported, and the working pair stays in force (fail closed).
describe('watchServingTls', () => {
  let ca: Issued
  let dir: string
  const leaf = () => issueLeaf(ca, { uris: ['spiffe://example.org/authz'], dns: ['localhost'] })
  before(async () => {
    ca = await generateCa('example.org CA')
    dir = mkdtempSync(join(tmpdir(), 'watch-tls-'))
  })
  after(() => rmSync(dir, { recursive: true }))

  test('a throw in the rotation callback is counted as refused and the working pair stays', async () => {
    const first = await leaf()
    const cfg = {
      cert_file: join(dir, 'cert.pem'),
      key_file: join(dir, 'key.pem'),
      bundles: { 'example.org': join(dir, 'bundle.pem') },
      allowed_peers: ['spiffe://example.org/envoy'],
    }
    writeFileSync(cfg.cert_file, first.certPem)
    writeFileSync(cfg.key_file, first.keyPem)
    writeFileSync(cfg.bundles['example.org'], ca.certPem)
    let refuse = true
    const rotated: ServingTls[] = []
    const errors: unknown[] = []
    const keepAlive = setInterval(() => {}, 1000)
    const w = watchServingTls(
      cfg,
      (next) => {
        if (refuse) throw new Error('listener refused the context')
        rotated.push(next)
      },
      (err) => errors.push(err),
      { debounceMs: 5, pollMs: 50 },
    )
    try {
      const start = w.current()
      const second = await leaf()
      // The key first: a cert and key that do not match yet are refused like any half-written set.
      replace(cfg.key_file, second.keyPem)
      replace(cfg.cert_file, second.certPem)
      await until(() => errors.some((e) => String(e).includes('listener refused')), 'a refusal')
      assert.equal(w.current(), start, 'the refused pair replaced the working one')
      assert.equal(rotated.length, 0)
      assert.equal(w.reloads().ok, 0)
      assert.ok(w.reloads().failed >= 1)
      // The retry poll applies the same set once the listener takes it.
      refuse = false
      await until(() => rotated.length === 1, 'the rotation')
      assert.equal(w.current(), rotated[0])
      assert.equal(w.current().cert.toString(), second.certPem)
      assert.equal(w.reloads().ok, 1)
    } finally {
      w.close()
      clearInterval(keepAlive)
    }
  })
})
