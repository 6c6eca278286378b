import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isRequestMethod, MAX_METHOD_LENGTH } from '../../src/authz/request-method.js'
import { HTTP_METHODS } from '../../src/config/schema.js'

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
// "_" / "`" / "|" / "~" / DIGIT / ALPHA, here without lower-case ALPHA.
const UPPER_TOKEN = /^[A-Z0-9!#$%&'*+.^_`|~-]{1,32}$/

describe('isRequestMethod: an upper-case RFC 9110 token of at most 32 characters', () => {
  test('agrees with the grammar on every character up to U+02FF, first and later', () => {
    for (let c = 0; c < 0x300; c++) {
      for (const s of [String.fromCharCode(c), `A${String.fromCharCode(c)}`]) {
        assert.equal(isRequestMethod(s), UPPER_TOKEN.test(s), JSON.stringify(s))
      }
    }
  })
  test('the bound', () => {
    assert.equal(MAX_METHOD_LENGTH, 32)
    assert.ok(isRequestMethod('X'.repeat(MAX_METHOD_LENGTH)))
    assert.ok(!isRequestMethod('X'.repeat(MAX_METHOD_LENGTH + 1)))
    assert.ok(!isRequestMethod(''))
  })
  test("every method the config's methods: accepts is one", () => {
    for (const m of HTTP_METHODS) assert.ok(isRequestMethod(m), m)
  })
})
