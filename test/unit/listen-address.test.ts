import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseConfig } from '../../src/config/load-config.js'
import { parseListenAddress } from '../../src/shared/listen-address.js'

// One parser for `listen`, `admin.listen` and `serve --listen`: the schema refuses exactly what
// the listeners could not bind.
const CASES: ReadonlyArray<readonly [string, { host: string; port: number } | undefined]> = [
  ['127.0.0.1:50051', { host: '127.0.0.1', port: 50051 }],
  ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
  ['localhost:65535', { host: 'localhost', port: 65535 }],
  ['[::1]:9901', { host: '::1', port: 9901 }],
  ['0.0.0.0:1', { host: '0.0.0.0', port: 1 }],
  ['127.0.0.1:65536', undefined],
  ['127.0.0.1:99999', undefined],
  ['127.0.0.1:', undefined],
  ['banana', undefined],
  [':50051', undefined],
  ['127.0.0.1:50051 ', undefined],
  ['127.0.0.1:-1', undefined],
  ['127.0.0.1:1e3', undefined],
]

describe('listen addresses', () => {
  for (const [text, expected] of CASES) {
    test(`${JSON.stringify(text)} -> ${expected === undefined ? 'refused' : `${expected.host} ${expected.port}`}`, () => {
      assert.deepEqual(parseListenAddress(text), expected)
      for (const key of ['listen', 'admin.listen']) {
        const yaml =
          key === 'listen'
            ? `listen: ${JSON.stringify(text)}\npolicy: { rules: [] }\n`
            : `admin: { listen: ${JSON.stringify(text)} }\npolicy: { rules: [] }\n`
        const accepted = (() => {
          try {
            parseConfig(yaml, 'c.yaml')
            return true
          } catch {
            return false
          }
        })()
        assert.equal(accepted, expected !== undefined, `${key}: ${text}`)
      }
    })
  }
})
