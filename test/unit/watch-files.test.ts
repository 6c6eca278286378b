import assert from 'node:assert/strict'
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { watchFiles } from '../../src/shared/watch-files.js'

/** Resolves on the next onChange call (a guard rejects after 30 s so a miss cannot hang). */
function changes() {
  let count = 0
  let wake: (() => void) | undefined
  return {
    onChange: () => {
      count++
      wake?.()
    },
    count: () => count,
    next: (): Promise<void> =>
      new Promise((resolve, reject) => {
        const guard = setTimeout(() => reject(new Error('no change seen within 30 s')), 30_000)
        wake = () => {
          clearTimeout(guard)
          wake = undefined
          resolve()
        }
      }),
  }
}

/** Replaces `file` atomically with `content` (write a temporary file, rename it over). */
function replace(file: string, content: string) {
  writeFileSync(`${file}.tmp`, content)
  renameSync(`${file}.tmp`, file)
}

describe('watchFiles', () => {
  // The watcher's own timers and handles are unref'd (they never keep a server alive): hold the
  // loop open while a test waits on them, or it could end with the wait still pending.
  let keepAlive: NodeJS.Timeout
  beforeEach(() => {
    keepAlive = setInterval(() => {}, 1000)
  })
  afterEach(() => clearInterval(keepAlive))

  test('a log file written beside the watched file never triggers; the next real change does, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-log-'))
    const config = join(dir, 'config.yaml')
    writeFileSync(config, 'a: 1\n')
    const seen = changes()
    const w = watchFiles([config], seen.onChange, { debounceMs: 5 })
    try {
      // Spaced past the debounce: before, each line beside the config was a reload
      // (232 in 50 s with the server's own log there). The pauses give events time to
      // arrive; passing does not depend on them (an event for app.log is never acted on).
      for (let i = 0; i < 20; i++) {
        appendFileSync(join(dir, 'app.log'), `line ${i}\n`)
        await sleep(20)
      }
      await w.idle()
      assert.equal(seen.count(), 0, 'changes reported for a file nobody watches')
      const next = seen.next()
      replace(config, 'a: 2\n')
      await next
      await w.idle()
      assert.equal(seen.count(), 1)
    } finally {
      w.close()
      rmSync(dir, { recursive: true })
    }
  })

  test('the same bytes written again are no change; different bytes are', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-same-'))
    const config = join(dir, 'config.yaml')
    writeFileSync(config, 'a: 1\n')
    const seen = changes()
    const w = watchFiles([config], seen.onChange, { debounceMs: 5 })
    try {
      for (let i = 0; i < 10; i++) {
        replace(config, 'a: 1\n') // a deploy tool re-applying the same config
        await sleep(20)
      }
      await w.idle()
      assert.equal(seen.count(), 0, 'an unchanged file was reported as changed')
      const next = seen.next()
      replace(config, 'a: 3\n')
      await next
      assert.equal(seen.count(), 1)
    } finally {
      w.close()
      rmSync(dir, { recursive: true })
    }
  })

  test('a Kubernetes ConfigMap update (the ..data symlink swapped) is seen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-k8s-'))
    // AtomicWriter's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>
    mkdirSync(join(dir, '..2026_12_02_01'))
    writeFileSync(join(dir, '..2026_12_02_01', 'config.yaml'), 'v: 1\n')
    symlinkSync('..2026_12_02_01', join(dir, '..data'))
    symlinkSync(join('..data', 'config.yaml'), join(dir, 'config.yaml'))
    const seen = changes()
    const w = watchFiles([join(dir, 'config.yaml')], seen.onChange, { debounceMs: 5 })
    try {
      const next = seen.next()
      mkdirSync(join(dir, '..2026_12_02_02'))
      writeFileSync(join(dir, '..2026_12_02_02', 'config.yaml'), 'v: 2\n')
      symlinkSync('..2026_12_02_02', join(dir, '..data_tmp'))
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
      rmSync(join(dir, '..2026_12_02_01'), { recursive: true })
      await next
      assert.equal(seen.count(), 1)
    } finally {
      w.close()
      rmSync(dir, { recursive: true })
    }
  })

  test('a throw in onChange goes to onError, and the next change is still seen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-throw-'))
    const config = join(dir, 'config.yaml')
    writeFileSync(config, 'a: 1\n')
    const seen = changes()
    const errors: unknown[] = []
    const w = watchFiles(
      [config],
      () => {
        seen.onChange()
        if (seen.count() === 1) throw new Error('callback failed')
      },
      { debounceMs: 5, onError: (err) => errors.push(err) },
    )
    try {
      let next = seen.next()
      replace(config, 'a: 2\n')
      await next
      await w.idle()
      assert.deepEqual(
        errors.map((e) => (e as Error).message),
        ['callback failed'],
      )
      next = seen.next()
      replace(config, 'a: 3\n')
      await next
      await w.idle()
      assert.equal(seen.count(), 2)
      assert.equal(errors.length, 1)
    } finally {
      w.close()
      rmSync(dir, { recursive: true })
    }
  })
})
