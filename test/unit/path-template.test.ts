import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { inNfkcStableBlock } from '../../src/authz/encoded-utf8.js'
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

describe('compilePathTemplate: errors', () => {
  const bad: Array<[template: string, why: RegExp]> = [
    ['', /must start with "\/"/],
    ['api/x', /must start with "\/"/],
    ['*', /must start with "\/"/],
    ['**', /must start with "\/"/],
    ['{id}', /must start with "\/"/],
    ['//', /segment 1 \(""[^)]*\) is empty/],
    ['//a', /segment 1 .* is empty \("\/\/"\)/],
    ['/a//b', /segment 2 \("" at offset 3\) is empty/],
    ['/a/', /segment 2 .* is empty: a template may not end with "\/"/],
    ['/**/x', /segment 1 .*"\*\*" is only allowed as the last segment/],
    ['/a/**/b', /segment 2 .*"\*\*" is only allowed as the last segment/],
    ['/**/**', /"\*\*" is only allowed as the last segment/],
    ['/a*', /"\*" and "\*\*" must be whole segments/],
    ['/***', /"\*" and "\*\*" must be whole segments/],
    ['/a/**x', /"\*" and "\*\*" must be whole segments/],
    ['/a/{}', /segment 2 .*a parameter is a whole segment "\{name\}"/],
    ['/a/{1x}', /a parameter is a whole segment/],
    ['/a/{a-b}', /a parameter is a whole segment/],
    ['/a/{ a}', /a parameter is a whole segment/],
    ['/a/{a.b}', /a parameter is a whole segment/],
    ['/a/{a}{b}', /a parameter is a whole segment/],
    ['/a/{a', /a parameter is a whole segment/],
    ['/a/a}', /a parameter is a whole segment/],
    ['/a/x{a}', /a parameter is a whole segment/],
    ['/a/{a}x', /a parameter is a whole segment/],
    ['/a/{{a}}', /a parameter is a whole segment/],
    ['/{id}/{id}', /segment 2 .*duplicate parameter \{id\}/],
    ['/{id}/x/{id}/**', /segment 3 .*duplicate parameter \{id\}/],
    ['/.', /segment 1 .* is a dot segment/],
    ['/a/./b', /segment 2 .* is a dot segment/],
    ['/a/..', /segment 2 .* is a dot segment/],
    ['/a b', /character " " is not allowed in a literal/],
    ['/a%2Fb', /character "%" is not allowed/],
    ['/a%20b', /character "%" is not allowed/],
    ['/a?b', /character "\?" is not allowed/],
    ['/a#b', /character "#" is not allowed/],
    ['/a;b', /character ";" is not allowed/],
    ['/a\\b', /character "\\\\" is not allowed/],
    ['/a"b', /character "\\"" is not allowed/],
    ['/caf\u00e9', /character "\u00e9" is not allowed/],
    ['/a\tb', /character "\\t" is not allowed/],
    ['/a[0]', /character "\[" is not allowed/],
  ]
  for (const [template, why] of bad) {
    test(JSON.stringify(template), () => {
      assert.throws(
        () => compilePathTemplate(template),
        (err: unknown) => {
          assert.ok(err instanceof PathTemplateError)
          assert.ok(err instanceof Error)
          assert.equal(err.name, 'PathTemplateError')
          assert.equal(err.template, template)
          assert.ok(err.message.startsWith(`invalid path template ${JSON.stringify(template)}: `))
          assert.match(err.message, why)
          return true
        },
      )
    })
  }
})

describe('compilePathTemplate: accepted', () => {
  const ok: Array<[template: string, params: string[]]> = [
    ['/', []],
    ['/**', []],
    ['/*', []],
    ['/healthz', []],
    ['/api/sessions/{session}/**', ['session']],
    ['/api/{kind}/{id}', ['kind', 'id']],
    ['/{_}/{a1}/{B_2}', ['_', 'a1', 'B_2']],
    ["/v1/a-b.c_d~e!f$g&h'i(j)k+l,m=n:o@p", []],
    ['/...', []], // only "." and ".." are dot segments
    ['/.well-known/{name}', ['name']],
  ]
  for (const [template, params] of ok) {
    test(template, () => {
      const t = compilePathTemplate(template)
      assert.equal(t.source, template)
      assert.deepEqual(t.params, params)
      assert.ok(Object.isFrozen(t.params))
    })
  }
})

describe('matching', () => {
  const cases: Array<
    [template: string, path: string, expected: Record<string, string> | undefined]
  > = [
    // root
    ['/', '/', {}],
    ['/', '/?x=1', {}],
    ['/', '/x', undefined],
    ['/', '/x/', undefined],
    // literals
    ['/healthz', '/healthz', {}],
    ['/healthz', '/healthz?verbose=1', {}],
    // one trailing slash is not significant (issue 20: a deny on /healthz was stepped around)
    ['/healthz', '/healthz/', {}],
    ['/healthz', '/healthz/?verbose=1', {}],
    ['/healthz', '/Healthz', undefined],
    ['/healthz', '/healthzz', undefined],
    ['/healthz', '/health', undefined],
    ['/healthz', '/', undefined],
    ['/a/b', '/a/b', {}],
    ['/a/b', '/a', undefined],
    ['/a/b', '/a/b/c', undefined],
    ["/v1/a:b@c!$&'()+,=~", "/v1/a:b@c!$&'()+,=~", {}],
    // ** : zero or more segments, including a trailing slash
    ['/**', '/', {}],
    ['/**', '/a', {}],
    ['/**', '/a/b/', {}],
    ['/api/**', '/api', {}],
    ['/api/**', '/api/', {}],
    ['/api/**', '/api/x', {}],
    ['/api/**', '/api/x/y/z', {}],
    ['/api/**', '/api/x/y/z/', {}],
    ['/api/**', '/apix', undefined],
    ['/api/**', '/apix/y', undefined],
    ['/api/**', '/ap', undefined],
    ['/api/**', '/', undefined],
    ['/api/**', '/x/api', undefined],
    // * : exactly one non-empty segment
    ['/*', '/a', {}],
    ['/*', '/', undefined],
    ['/api/*', '/api/x', {}],
    ['/api/*', '/api', undefined],
    ['/api/*', '/api/', undefined],
    ['/api/*', '/api/x/', {}], // the trailing slash is not significant
    ['/api/*', '/api/x/y', undefined],
    ['/api/*/logs', '/api/x/logs', {}],
    ['/api/*/logs', '/api/x/y/logs', undefined],
    // {name}: exactly one non-empty segment, captured raw
    ['/api/sessions/{session}/**', '/api/sessions/abc', { session: 'abc' }],
    ['/api/sessions/{session}/**', '/api/sessions/abc/', { session: 'abc' }],
    ['/api/sessions/{session}/**', '/api/sessions/abc/logs/1', { session: 'abc' }],
    ['/api/sessions/{session}/**', '/api/sessions/', undefined],
    ['/api/sessions/{session}/**', '/api/sessions', undefined],
    ['/api/{kind}/{id}', '/api/runs/42', { kind: 'runs', id: '42' }],
    ['/api/{kind}/{id}', '/api/runs/42/x', undefined],
    ['/api/{kind}/{id}', '/api/runs', undefined],
    ['/api/{id}', '/api/x/', { id: 'x' }], // the trailing slash is not significant
    ['/api/{id}', '/api/', undefined],
    ['/api/{id}', '/api/a%20b', { id: 'a%20b' }], // not decoded
    ['/api/{id}', '/api/a%2Cb', { id: 'a%2Cb' }],
    ['/api/{id}', '/api/a,b', { id: 'a,b' }],
    ['/api/{id}', '/api/x?id=y', { id: 'x' }],
    ['/{a}/x/{b}', '/1/x/2', { a: '1', b: '2' }],
    ['/{a}/x/{b}', '/1/y/2', undefined],
    ['/{a}/*/{b}/**', '/1/any/2/rest/of/it', { a: '1', b: '2' }],
  ]
  for (const [template, path, expected] of cases) {
    test(`${template} vs ${path}`, () => assert.deepEqual(match(template, path), expected))
  }

  test('captured params have no prototype', () => {
    const m = compilePathTemplate('/a/{x}').match(['a', '1'])
    assert.ok(m)
    assert.equal(Object.getPrototypeOf(m), null)
    assert.deepEqual(Object.keys(m), ['x'])
  })

  test('no params: one shared, frozen, empty, null-prototype object', () => {
    const m = compilePathTemplate('/a/*').match(['a', '1'])
    assert.ok(m)
    assert.ok(Object.isFrozen(m))
    assert.equal(Object.getPrototypeOf(m), null)
    assert.deepEqual(Object.keys(m), [])
  })

  test('a parameter named __proto__ is just a key', () => {
    const m = compilePathTemplate('/x/{__proto__}/{constructor}').match(['x', 'p', 'c'])
    assert.ok(m)
    assert.equal(Object.getPrototypeOf(m), null)
    assert.deepEqual(Object.entries(m), [
      ['__proto__', 'p'],
      ['constructor', 'c'],
    ])
    assert.equal(({} as Record<string, unknown>).p, undefined)
  })

  test('matches do not share captured objects', () => {
    const t = compilePathTemplate('/{id}')
    const a = t.match(['1'])
    const b = t.match(['2'])
    assert.deepEqual([{ ...a }, { ...b }], [{ id: '1' }, { id: '2' }])
  })
})

describe('splitRequestPath: accepted', () => {
  const cases: Array<[path: string, segments: string[]]> = [
    ['/', []],
    ['/?', []],
    ['/?a=b', []],
    ['/a', ['a']],
    ['/a/b', ['a', 'b']],
    ['/a/', ['a']], // one trailing slash is not significant
    ['/a/b/', ['a', 'b']],
    ['/a/b?c=/../d', ['a', 'b']], // the query is not checked
    ['/a/b?x=%2f%2e%2e\\;', ['a', 'b']],
    ['/a/?q', ['a']],
    ['/a%20b', ['a%20b']],
    ['/a%2cb/%3A/%40/%25', ['a%2cb', '%3A', '%40', '%25']], // encoded reserved characters stay
    ['/caf%C3%A9', ['caf%C3%A9']], // encoded UTF-8 is how non-ASCII is meant to arrive
    ['/%E4%B8%AD/%F0%9F%98%80/%F4%8F%BF%BF', ['%E4%B8%AD', '%F0%9F%98%80', '%F4%8F%BF%BF']],
    ['/e%CC%81', ['e%CC%81']], // a combining mark after ASCII: NFKC composes, adds no ASCII
    ['/%E3%80%82', ['%E3%80%82']], // ideographic full stop: NFKC keeps it
    ['/a%25', ['a%25']], // an encoded "%" not followed by two hex digits
    ['/a%25z1', ['a%25z1']],
    ['/...', ['...']],
    ['/.a/a./..b', ['.a', 'a.', '..b']],
    ["/a:b@c!$&'()*+,=~-_.", ["a:b@c!$&'()*+,=~-_."]],
  ]
  for (const [path, segments] of cases) {
    test(JSON.stringify(path), () => assert.deepEqual(splitRequestPath(path), segments))
  }

  test(`exactly ${MAX_PATH_BYTES} bytes is accepted, the query included`, () => {
    const path = `/${'a'.repeat(MAX_PATH_BYTES - 1)}`
    assert.equal(path.length, MAX_PATH_BYTES)
    assert.deepEqual(splitRequestPath(path), ['a'.repeat(MAX_PATH_BYTES - 1)])
    assert.deepEqual(splitRequestPath(`/a?${'q'.repeat(MAX_PATH_BYTES - 3)}`), ['a'])
  })
})

describe('splitRequestPath: unsafe (undefined, so the caller denies)', () => {
  const unsafe: Array<[name: string, path: string]> = [
    ['empty', ''],
    ['asterisk-form', '*'],
    ['absolute-form', 'http://x/a'],
    ['authority-form', 'example.org:443'],
    ['relative', 'a/b'],
    ['query only', '?a=b'],
    ['dot segment', '/a/./b'],
    ['dot-dot segment', '/a/../b'],
    ['dot first', '/./a'],
    ['dot-dot first', '/../a'],
    ['dot last', '/a/.'],
    ['dot-dot last', '/a/..'],
    ['dot only', '/.'],
    ['dot-dot then trailing slash', '/a/../'],
    ['double slash', '/a//b'],
    ['leading double slash', '//a'],
    ['root double slash', '//'],
    ['two trailing slashes', '/a//'],
    ['encoded dot', '/a/%2e/b'],
    ['encoded dot-dot', '/a/%2e%2e/b'],
    ['encoded dot upper', '/a/%2E%2E/b'],
    ['half-encoded dot-dot', '/a/.%2e/b'],
    ['encoded dot inside a segment', '/a%2eb'],
    ['encoded slash', '/a%2Fb'],
    ['encoded slash lower', '/a%2fb'],
    ['encoded backslash', '/a%5Cb'],
    ['encoded backslash lower', '/a%5cb'],
    ['encoded semicolon', '/a%3Bb'],
    ['encoded letter', '/%61dmin'],
    ['encoded upper letter', '/%41dmin'],
    ['encoded digit', '/v%31'],
    ['encoded dash', '/a%2Db'],
    ['encoded underscore', '/a%5Fb'],
    ['encoded tilde', '/%7Euser'],
    ['encoded NUL', '/admin%00.png'],
    ['encoded newline', '/a%0Ab'],
    ['encoded DEL', '/a%7Fb'],
    ['overlong UTF-8 dot', '/a/%C0%AE%C0%AE/b'],
    ['overlong UTF-8 slash', '/a%c0%afb'],
    ['encoded dot after an encoded percent', '/a%252e%2e'],
    ['percent at end', '/a%'],
    ['percent with one digit', '/a%2'],
    ['percent with non-hex', '/a%zz'],
    ['percent with one non-hex', '/a%2g'],
    ['percent then slash', '/a%/b'],
    ['semicolon (path parameter)', '/admin;x=1'],
    ['dot-dot with path parameter', '/a/..;/b'],
    ['dot with path parameter', '/a/.;/b'],
    ['bare semicolon', '/a/;/b'],
    ['backslash', '/a\\b'],
    ['backslash dot-dot', '/a\\..\\b'],
    ['space', '/a b'],
    ['tab', '/a\tb'],
    ['CR', '/a\rb'],
    ['LF', '/a\nb'],
    ['NUL', '/a\u0000b'],
    ['DEL', '/a\u007fb'],
    ['raw high byte', '/caf\u00e9'],
    ['raw byte 0x80', '/a\u0080'],
    ['non-latin1 character', '/\u2215'],
    ['lone surrogate', '/\ud800'],
    ['fragment', '/a#b'],
    ['fragment at the root', '/#x'],
    ['empty fragment', '/a#'],
    ['fragment after a trailing slash', '/a/#'],
    ['fragment in the query', '/a?b=1#c'],
    ['double-encoded dot', '/a/%252e'],
    ['double-encoded letter', '/%2561dmin'],
    ['double-encoded percent', '/a%25252e'],
    ['overlong 3-byte dot', '/a/%E0%80%AE'],
    ['overlong 4-byte dot', '/a/%F0%80%80%AE'],
    ['lone continuation byte', '/a%80'],
    ['truncated sequence at the end', '/a%E2%82'],
    ['truncated sequence before a slash', '/a%E2%82/b'],
    ['truncated sequence before the query', '/a%C3?x'],
    ['surrogate', '/a%ED%A0%80'],
    ['above U+10FFFF', '/a%F4%90%80%80'],
    ['F8 lead', '/a%F8%88%80%80%80'],
    ['fullwidth full stop', '/a/%EF%BC%8E%EF%BC%8E/b'],
    ['fullwidth solidus', '/a%EF%BC%8Fb'],
    ['fullwidth letter', '/%EF%BD%81dmin'],
    ['one dot leader after valid text', '/caf%C3%A9%E2%80%A4'],
    ['C1 control', '/a%C2%9Fb'],
    ['too long', `/${'a'.repeat(MAX_PATH_BYTES)}`],
    ['too long because of the query', `/a?${'q'.repeat(MAX_PATH_BYTES)}`],
  ]
  for (const [name, path] of unsafe) {
    test(name, () => assert.equal(splitRequestPath(path), undefined))
  }
})

describe('inNfkcStableBlock (code points the normalisation check skips)', () => {
  test('NFKC changes none of the code points it accepts, on this runtime', () => {
    let accepted = 0
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (!inNfkcStableBlock(cp)) continue
      accepted++
      const s = String.fromCodePoint(cp)
      assert.equal(s.normalize('NFKC'), s, `U+${cp.toString(16)}`)
      assert.ok(cp >= 0xa0, 'never ASCII or a control')
    }
    assert.ok(accepted > 30000) // the CJK and Hangul blocks
  })
})
