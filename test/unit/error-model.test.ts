import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { asConfigError, loadForCheck, problemOf } from '../../src/cli/load-for-check.js'
import { ConfigError } from '../../src/config/errors.js'
import { ERROR_CODES } from '../../src/shared/error-codes.js'
import { AuthzError, FileUnreadableError } from '../../src/shared/errors.js'
import { HashKeyError } from '../../src/shared/session-hasher.js'
import { KeyLoadError } from '../../src/tokens/keyring.js'

// One error model: every error class extends AuthzError and names one stable code of
// ERROR_CODES; callers find the key path and the kind of a problem in `keyPath` and `code`.
const DIST_SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

/** Every file under `dir` whose name passes `keep`, as paths relative to `dir`. */
function walk(dir: string, keep: (name: string) => boolean, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'gen' ? [] : walk(path, keep, base)
    return keep(name) ? [relative(base, path)] : []
  })
}

type ErrorClass = (abstract new (...args: never[]) => Error) & { code?: unknown }

async function exportedErrorClasses(): Promise<Map<string, ErrorClass>> {
  const out = new Map<string, ErrorClass>()
  // cli/main.js runs the CLI when imported.
  const files = walk(DIST_SRC, (n) => n.endsWith('.js')).filter((f) => f !== 'cli/main.js')
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(DIST_SRC, file)).href)) as Record<string, unknown>
    for (const value of Object.values(mod)) {
      if (typeof value === 'function' && value.prototype instanceof Error) {
        out.set(value.name, value as ErrorClass)
      }
    }
  }
  return out
}

describe('one error model', () => {
  test('every exported error class extends AuthzError and names its own code', async () => {
    const classes = await exportedErrorClasses()
    assert.ok(classes.size >= 10, `found only ${[...classes.keys()].join(', ')}`)
    const codes = new Map<string, string>()
    for (const [name, cls] of classes) {
      if (name === 'AuthzError') continue
      assert.ok(cls.prototype instanceof AuthzError, `${name} does not extend AuthzError`)
      const code = cls.code
      assert.equal(typeof code, 'string', `${name} has no static code`)
      assert.ok((ERROR_CODES as readonly unknown[]).includes(code), `${name}: ${String(code)}`)
      // A subclass that names no code of its own is a narrower kind of its parent's.
      if (!Object.hasOwn(cls, 'code')) continue
      const other = codes.get(code as string)
      assert.equal(other, undefined, `${name} and ${other} share ${String(code)}`)
      codes.set(code as string, name)
    }
  })

  test('an instance carries its class code', () => {
    assert.equal(new HashKeyError('k', 'is empty').code, HashKeyError.code)
    assert.equal(new KeyLoadError('k.pem', 'not valid JSON').code, KeyLoadError.code)
    assert.equal(new FileUnreadableError('gone', { file: 'f' }).code, FileUnreadableError.code)
    assert.equal(
      new ConfigError('c.yaml', [{ path: 'listen', message: 'x' }]).code,
      ConfigError.code,
    )
  })

  test('codes are unique and well formed', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length)
    for (const code of ERROR_CODES) assert.match(code, /^ERR_[A-Z0-9_]+$/)
  })

  const sources = walk(SRC, (n) => n.endsWith('.ts')).map((f) => ({
    file: f,
    text: readFileSync(join(SRC, f), 'utf8'),
  }))

  test('the source throws no bare Error and declares no Error subclass outside AuthzError', () => {
    const bare = sources
      .filter((s) => /\bnew (Error|RangeError|TypeError)\(/.test(s.text))
      .map((s) => s.file)
    assert.deepEqual(bare, [])
    const subclasses = sources.flatMap((s) =>
      [...s.text.matchAll(/class (\w+) extends (?:Error|TypeError|RangeError)\b/g)]
        .map((m) => m[1] as string)
        .filter((name) => name !== 'AuthzError'),
    )
    assert.deepEqual(subclasses, [])
  })

  test('no code branches on the wording of an error message', () => {
    const matching =
      /\.message\s*\.\s*(startsWith|endsWith|includes|match|search|indexOf)\(|\.(test|exec|match)\((\w+\.)?message\)|\bproblem\.(startsWith|endsWith|includes)\(/
    const found = sources.filter((s) => matching.test(s.text))
    assert.deepEqual(
      found.map((s) => s.file),
      [],
    )
  })
})

describe('config check finds the key path in the error, not in its message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'error-model-'))
  const config = (name: string, yaml: string) => {
    const file = join(dir, name)
    writeFileSync(file, `${yaml}policy:\n  rules: [{ name: r, path: /x, public: true }]\n`)
    return file
  }
  const rejectsAt = async (file: string, keyPath: string) => {
    await assert.rejects(loadForCheck(file), (err: unknown) => {
      assert.ok(err instanceof AuthzError)
      assert.equal(err.code, 'ERR_CONFIG_INVALID')
      assert.equal(err.file, file)
      assert.equal(err.keyPath, keyPath)
      return true
    })
  }

  test('a log hash key file that is too short: logging.hash_key_file', async () => {
    const key = join(dir, 'short.key')
    writeFileSync(key, 'short\n')
    await rejectsAt(
      config('hash.yaml', `logging: { hash_key_file: ${key} }\n`),
      'logging.hash_key_file',
    )
  })

  test('the second runner-token key file missing: runner_tokens.private_keys[1]', async () => {
    const good = join(dir, 'good.pem')
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    writeFileSync(good, privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const yaml = `runner_tokens: { private_keys: [${good}, ${join(dir, 'missing.pem')}] }\n`
    await rejectsAt(config('keys.yaml', yaml), 'runner_tokens.private_keys[1]')
  })

  test('a serving certificate file missing: tls.cert_file', async () => {
    const yaml =
      `tls:\n  cert_file: ${join(dir, 'nope.pem')}\n  key_file: ${join(dir, 'nope-key.pem')}\n` +
      `  bundles: { example.org: ${join(dir, 'bundle.pem')} }\n  allowed_peers: [example.org]\n`
    await rejectsAt(config('tls.yaml', yaml), 'tls.cert_file')
  })

  test('serve wraps a failure of a configured file into the config error at its key', () => {
    const wrapped = asConfigError('c.yaml', new HashKeyError('/k', 'is empty'))
    assert.ok(wrapped instanceof ConfigError)
    assert.equal(wrapped.keyPath, 'logging.hash_key_file')
    assert.equal(wrapped.problems[0]?.message, '/k: is empty')
    const plain = new AuthzError('ERR_CONFIG_INVALID', 'needs a runner_tokens section', {
      keyPath: 'session_registry',
    })
    assert.equal(problemOf(plain, 'runner_tokens').path, 'session_registry')
    // Not a problem of the config: passed on unchanged.
    const busy = new AuthzError('ERR_LISTEN_FAILED', 'cannot listen', { keyPath: 'listen' })
    assert.equal(asConfigError('c.yaml', busy), busy)
  })
})
