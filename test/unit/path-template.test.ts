import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  compilePathTemplate,
  MAX_PATH_BYTES,
  PathTemplateError,
  splitRequestPath,
} from '../../src/authz/path-template.js'

function match(template: string, path: string) {
  const segments = splitRequestPath(path)
  assert.ok(segments, `path ${path} should split`)
  const m = compilePathTemplate(template).match(segments)
  return m === undefined ? undefined : { ...m }
}

describe('compilePathTemplate errors', () => {
  const bad: Array<[string, RegExp]> = [
    ['api/x', /must start with "\/"/],
    ['', /must start with "\/"/],
    ['/a//b', /empty/],
    ['/a/', /empty/],
    ['/**/x', /last segment/],
    ['/a/{1x}', /expected \{name\}/],
    ['/a/{}', /expected \{name\}/],
    ['/a/{a}{b}', /expected \{name\}/],
    ['/a/{a', /expected \{name\}/],
    ['/{id}/{id}', /duplicate parameter \{id\}/],
    ['/a/./b', /dot segment/],
    ['/a/..', /dot segment/],
    ['/a b', /RFC 3986/],
    ['/a%2Fb', /RFC 3986/],
    ['/a?b', /RFC 3986/],
  ]
  for (const [template, why] of bad) {
    test(JSON.stringify(template), () => {
      assert.throws(
        () => compilePathTemplate(template),
        (err: unknown) => err instanceof PathTemplateError && why.test(err.message),
      )
    })
  }
})

describe('matching', () => {
  const cases: Array<[string, string, Record<string, string> | undefined]> = [
    ['/', '/', {}],
    ['/', '/x', undefined],
    ['/healthz', '/healthz', {}],
    ['/healthz', '/healthz?verbose=1', {}],
    ['/healthz', '/healthz/', undefined],
    ['/healthz', '/Healthz', undefined],
    ['/api/**', '/api', {}],
    ['/api/**', '/api/', {}],
    ['/api/**', '/api/x/y/z', {}],
    ['/api/**', '/apix', undefined],
    ['/api/*', '/api/x', {}],
    ['/api/*', '/api/', undefined],
    ['/api/*', '/api/x/y', undefined],
    ['/api/sessions/{session}/**', '/api/sessions/abc/logs', { session: 'abc' }],
    ['/api/sessions/{session}/**', '/api/sessions/abc', { session: 'abc' }],
    ['/api/sessions/{session}/**', '/api/sessions/', undefined],
    ['/api/{kind}/{id}', '/api/runs/42', { kind: 'runs', id: '42' }],
    ['/api/{id}', '/api/x/', undefined],
    ['/api/{id}', '/api/a%20b', { id: 'a%20b' }],
  ]
  for (const [template, path, expected] of cases) {
    test(`${template} vs ${path}`, () => assert.deepEqual(match(template, path), expected))
  }

  test('captured params are frozen and have no prototype', () => {
    const m = compilePathTemplate('/a/{x}').match(['a', '1'])
    assert.ok(m)
    assert.ok(Object.isFrozen(m))
    assert.equal(Object.getPrototypeOf(m), null)
  })
})

describe('splitRequestPath', () => {
  test('segments, query and fragment stripped, trailing slash kept', () => {
    assert.deepEqual(splitRequestPath('/'), [])
    assert.deepEqual(splitRequestPath('/a/b?c=/../d'), ['a', 'b'])
    assert.deepEqual(splitRequestPath('/a/b#frag'), ['a', 'b'])
    assert.deepEqual(splitRequestPath('/a/'), ['a', ''])
    assert.deepEqual(splitRequestPath('/a%20b'), ['a%20b'])
  })
  const unsafe: Array<[string, string]> = [
    ['empty', ''],
    ['asterisk-form', '*'],
    ['absolute-form', 'http://x/a'],
    ['dot segment', '/a/./b'],
    ['dot-dot segment', '/a/../b'],
    ['dot-dot last', '/a/..'],
    ['double slash', '/a//b'],
    ['leading double slash', '//a'],
    ['encoded dot', '/a/%2e%2e/b'],
    ['encoded dot upper', '/a/%2E/b'],
    ['encoded slash', '/a%2Fb'],
    ['encoded slash lower', '/a%2fb'],
    ['encoded backslash', '/a%5Cb'],
    ['backslash', '/a\\b'],
    ['space', '/a b'],
    ['tab', '/a\tb'],
    ['NUL', '/a\u0000b'],
    ['DEL', '/a\u007fb'],
    ['too long', `/${'a'.repeat(MAX_PATH_BYTES)}`],
  ]
  for (const [name, path] of unsafe) {
    test(`unsafe: ${name}`, () => assert.equal(splitRequestPath(path), undefined))
  }
  test('exactly MAX_PATH_BYTES is accepted', () => {
    assert.ok(splitRequestPath(`/${'a'.repeat(MAX_PATH_BYTES - 1)}`))
  })
})
