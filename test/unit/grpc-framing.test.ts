import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { AuthzError } from '../../src/shared/errors.js'
import { GRPC_STATUS } from '../../src/shared/grpc-status.js'
import { encodeGrpcMessage, parseGrpcTimeout } from '../../src/transport/http2/grpc-headers.js'
import {
  FramingError,
  frameMessage,
  MessageReader,
} from '../../src/transport/http2/message-reader.js'

function readAll(reader: MessageReader, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = []
  for (const c of chunks) reader.push(c, { push: (m) => out.push(Buffer.from(m)) })
  return out
}

describe('gRPC message framing', () => {
  test('messages split across and packed into chunks come out whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const wire = Buffer.concat(messages.map((m) => frameMessage(m)))
          const chunks: Buffer[] = []
          let at = 0
          for (let i = 0; at < wire.length; i++) {
            const n = cuts[i % cuts.length] as number
            chunks.push(wire.subarray(at, at + n))
            at += n
          }
          const reader = new MessageReader(1000)
          const got = readAll(reader, chunks)
          assert.deepEqual(
            got.map((b) => b.toString('hex')),
            messages.map((m) => Buffer.from(m).toString('hex')),
          )
          assert.equal(reader.partial(), false)
        },
      ),
      { numRuns: 200 },
    )
  })

  test('an empty message is a message', () => {
    assert.deepEqual(readAll(new MessageReader(10), [frameMessage(new Uint8Array())]), [
      Buffer.alloc(0),
    ])
  })

  test('a truncated stream is reported as partial', () => {
    const reader = new MessageReader(100)
    readAll(reader, [frameMessage(Buffer.from('hello')).subarray(0, 7)])
    assert.equal(reader.partial(), true)
    const prefixOnly = new MessageReader(100)
    readAll(prefixOnly, [Buffer.from([0, 0, 0])])
    assert.equal(prefixOnly.partial(), true)
  })

  test('the compressed flag is refused with UNIMPLEMENTED, other flags with INTERNAL', () => {
    const compressed = frameMessage(Buffer.from('x'))
    compressed[0] = 1
    assert.throws(
      () => readAll(new MessageReader(100), [compressed]),
      (e: unknown) =>
        e instanceof FramingError &&
        e instanceof AuthzError &&
        e.code === 'ERR_GRPC_FRAMING' &&
        FramingError.code === e.code &&
        e.message === 'compressed messages are not supported' &&
        e.grpcStatus === GRPC_STATUS.UNIMPLEMENTED,
    )
    compressed[0] = 0x80
    assert.throws(
      () => readAll(new MessageReader(100), [compressed]),
      (e: unknown) => e instanceof FramingError && e.grpcStatus === GRPC_STATUS.INTERNAL,
    )
  })

  test('an oversized length is refused from the prefix alone, before buffering the payload', () => {
    const prefix = Buffer.from([0, 0xff, 0xff, 0xff, 0xff])
    assert.throws(
      () => readAll(new MessageReader(4 * 1024 * 1024), [prefix]),
      (e: unknown) => e instanceof FramingError && e.grpcStatus === GRPC_STATUS.RESOURCE_EXHAUSTED,
    )
    // At the limit is fine.
    assert.equal(readAll(new MessageReader(3), [frameMessage(Buffer.from('abc'))]).length, 1)
  })

  test('a message in many DATA frames is assembled in linear work (bytes allocated < 3x its size)', (t) => {
    const size = 4 * 1024 * 1024
    const payload = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4096) payload[i] = i % 251
    const wire = frameMessage(payload)
    // Every buffer the reader creates, by any route (concatenating, allocating to grow).
    let allocated = 0
    const count = (name: 'alloc' | 'allocUnsafe' | 'allocUnsafeSlow') => {
      const original = Buffer[name] as (n: number, ...rest: unknown[]) => Buffer
      t.mock.method(Buffer, name, (n: number, ...rest: unknown[]) => {
        allocated += n
        return original.call(Buffer, n, ...rest)
      })
    }
    count('alloc')
    count('allocUnsafe')
    count('allocUnsafeSlow')
    const concat = Buffer.concat
    t.mock.method(Buffer, 'concat', (list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total)
      allocated += out.length
      return out
    })
    const reader = new MessageReader(size)
    const got: Buffer[] = []
    // Envoy's default HTTP/2 frame size is 16 KiB.
    for (let at = 0; at < wire.length; at += 16 * 1024) {
      reader.push(wire.subarray(at, at + 16 * 1024), { push: (m) => got.push(m) })
    }
    t.mock.restoreAll()
    assert.equal(got.length, 1)
    assert.ok((got[0] as Buffer).equals(payload))
    assert.equal(reader.partial(), false)
    // Copying the pending bytes again per frame allocates ~256 MiB here (16 KiB + 32 KiB + ...).
    assert.ok(allocated < 3 * size, `allocated ${allocated} bytes for a ${size}-byte message`)
  })

  test('what a prefix announces is not allocated before it arrives', (t) => {
    const prefix = Buffer.from([0, 0, 0x40, 0, 0]) // 4 MiB announced
    const chunk = Buffer.concat([prefix, Buffer.alloc(10)])
    let allocated = 0
    const original = Buffer.allocUnsafe
    t.mock.method(Buffer, 'allocUnsafe', (n: number) => {
      allocated += n
      return original.call(Buffer, n)
    })
    const reader = new MessageReader(4 * 1024 * 1024)
    reader.push(chunk, { push: () => assert.fail() })
    t.mock.restoreAll()
    assert.equal(reader.partial(), true)
    assert.ok(allocated <= 64 * 1024, `allocated ${allocated} bytes for 10 that arrived`)
  })
})

describe('grpc-timeout', () => {
  test('every unit converts to milliseconds', () => {
    assert.equal(parseGrpcTimeout('1H'), 3_600_000)
    assert.equal(parseGrpcTimeout('2M'), 120_000)
    assert.equal(parseGrpcTimeout('3S'), 3000)
    assert.equal(parseGrpcTimeout('200m'), 200)
    assert.equal(parseGrpcTimeout('1500u'), 1.5)
    assert.equal(parseGrpcTimeout('99999999n'), 99.999999)
    assert.equal(parseGrpcTimeout(undefined), undefined)
  })

  test('malformed values are NaN: too many digits, no unit, signs, spaces, arrays', () => {
    for (const v of ['123456789S', '10', 'S', '-1S', ' 1S', '1s', '1.5S', '']) {
      assert.ok(Number.isNaN(parseGrpcTimeout(v)), v)
    }
    assert.ok(Number.isNaN(parseGrpcTimeout(['1S', '2S'])))
  })
})

describe('grpc-message percent-encoding', () => {
  test('printable ASCII passes, % and everything else becomes %XX of UTF-8', () => {
    assert.equal(encodeGrpcMessage('deadline exceeded'), 'deadline exceeded')
    assert.equal(encodeGrpcMessage('100% sure'), '100%25 sure')
    assert.equal(encodeGrpcMessage('a\nb'), 'a%0Ab')
    assert.equal(encodeGrpcMessage('héllo'), 'h%C3%A9llo')
  })

  test('decoding the encoding gives the message back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const enc = encodeGrpcMessage(s)
        assert.match(enc, /^[\x20-\x7e]*$/)
        assert.equal(decodeURIComponent(enc), Buffer.from(s, 'utf8').toString('utf8'))
      }),
      { numRuns: 300 },
    )
  })
})
