import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { buildRequestFacts, FACT_SELECTION } from '../../src/extproc/build-request-facts.js'
import { NameSet } from '../../src/extproc/codec/name-set.js'
import {
  decodeProcessingRequest,
  LimitExceededError,
} from '../../src/extproc/codec/processing-request.js'
import { ProcessingRequestType } from '../helpers/reference-codec.js'

const LIMITS = { maxHeaders: 100, maxHeaderBytes: 65536 }

function encode(headers: Array<[string, string]>, attrs: Record<string, string | boolean>) {
  return ProcessingRequestType.encode(
    ProcessingRequestType.fromObject({
      request_headers: {
        headers: {
          headers: headers.map(([key, v]) =>
            key === 'x-old' ? { key, value: v } : { key, raw_value: Buffer.from(v, 'latin1') },
          ),
        },
        end_of_stream: true,
      },
      attributes: [
        {
          key: 'envoy.filters.http.ext_proc',
          value: {
            fields: Object.entries(attrs).map(([key, v]) => ({
              key,
              value: typeof v === 'string' ? { string_value: v } : { bool_value: v },
            })),
          },
        },
      ],
    }),
  ).finish()
}

const HEADERS: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'https'],
  [':authority', 'API.example.org:8443'],
  [':path', '/api/sessions/s-1/steps?x=1'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64)'],
  ['authorization', 'Bearer abc.def'],
  ['x-forwarded-client-cert', 'By=spiffe://td/a;URI=spiffe://td/ns/x/sa/y'],
  ['x-request-id', 'req-1'],
  ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
  ['content-type', 'application/grpc+proto'],
  ['x-old', 'legacy value field'],
  ['authorizatio', 'one byte short: not selected'],
  ['x-bin', '\xff\x00\x80'],
]
const ATTRS = {
  'connection.uri_san_peer_certificate': 'spiffe://td/ns/prod/sa/api',
  'connection.mtls': true,
  'source.address': '10.1.2.3:53412',
}

/** A hand-encoded length-delimited protobuf field, for shapes protobufjs never writes. */
function lenField(n: number, bytes: Buffer | string, encoding: 'latin1' | 'utf8'): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, encoding) : bytes
  const len: number[] = []
  for (let v = b.length; ; v = Math.floor(v / 128)) {
    if (v < 0x80) {
      len.push(v)
      break
    }
    len.push((v & 0x7f) | 0x80)
  }
  return Buffer.from([(n << 3) | 2, ...len, ...b])
}

describe('decoding only the selected headers and attributes', () => {
  test('keeps selected fields in order with duplicates, counts and bounds every field', () => {
    const sel = {
      headers: new NameSet([':path', 'dup', 'absent'], 'latin1'),
      attributes: new NameSet(['connection.mtls'], 'utf8'),
    }
    const bytes = encode([...HEADERS, ['dup', '1'], ['dup', '2']], ATTRS)
    const d = decodeProcessingRequest(bytes, LIMITS, sel)
    assert.deepEqual(d.headers, [
      { name: ':path', value: '/api/sessions/s-1/steps?x=1' },
      { name: 'dup', value: '1' },
      { name: 'dup', value: '2' },
    ])
    assert.equal(d.headerCount, HEADERS.length + 2)
    assert.equal(d.headerBytes, decodeProcessingRequest(bytes, LIMITS).headerBytes)
    assert.deepEqual(d.attributes, new Map([['connection.mtls', true]]))
    // Unselected fields still count against the limits.
    assert.throws(
      () => decodeProcessingRequest(bytes, { ...LIMITS, maxHeaders: 3 }, sel),
      LimitExceededError,
    )
    assert.throws(
      () => decodeProcessingRequest(bytes, { ...LIMITS, maxHeaderBytes: 64 }, sel),
      LimitExceededError,
    )
  })

  test('HeaderValue shapes other than key-then-raw_value decode as protobuf says', () => {
    const field = (n: number, bytes: Buffer | string) => lenField(n, bytes, 'latin1')
    const message = (...headerValues: Buffer[]) => {
      const map = Buffer.concat(headerValues.map((hv) => field(1, hv)))
      return field(2, field(1, map)) // request_headers { headers { headers... } }
    }
    const long = 'v'.repeat(20_000)
    const cases: Array<[string, Buffer, { name: string; value: string }]> = [
      ['Envoy shape', Buffer.concat([field(1, 'k'), field(3, 'v')]), { name: 'k', value: 'v' }],
      ['raw_value first', Buffer.concat([field(3, 'v'), field(1, 'k')]), { name: 'k', value: 'v' }],
      [
        'key twice: the last wins',
        Buffer.concat([field(1, 'a'), field(3, 'v'), field(1, 'k')]),
        { name: 'k', value: 'v' },
      ],
      [
        'an empty value field as well (raw_value wins)',
        Buffer.concat([field(1, 'k'), field(2, ''), field(3, 'v')]),
        { name: 'k', value: 'v' },
      ],
      [
        'value only (older Envoy)',
        Buffer.concat([field(1, 'k'), field(2, 'old')]),
        { name: 'k', value: 'old' },
      ],
      [
        'an unknown varint field after the value',
        Buffer.concat([field(1, 'k'), field(3, 'v'), Buffer.from([7 << 3, 1])]),
        { name: 'k', value: 'v' },
      ],
      [
        'a 200-byte name (two-byte length)',
        Buffer.concat([field(1, 'n'.repeat(200)), field(3, 'v')]),
        { name: 'n'.repeat(200), value: 'v' },
      ],
      [
        'a 20,000-byte value (three-byte length)',
        Buffer.concat([field(1, 'k'), field(3, long)]),
        { name: 'k', value: long },
      ],
      ['no key at all', field(3, 'v'), { name: '', value: 'v' }],
    ]
    for (const [name, hv, expected] of cases) {
      const bytes = message(hv, Buffer.concat([field(1, 'z'), field(3, 'last')]))
      const d = decodeProcessingRequest(bytes, LIMITS)
      assert.deepEqual(d.headers, [expected, { name: 'z', value: 'last' }], name)
      const only = new NameSet([expected.name || 'k'], 'latin1')
      const sel = decodeProcessingRequest(bytes, LIMITS, { headers: only, attributes: only })
      assert.deepEqual(sel.headers, expected.name === '' ? [] : [expected], `${name} (selected)`)
    }
    // A value length that runs past the HeaderValue is corrupt on either path.
    const overrun = Buffer.concat([field(1, 'k'), Buffer.from([(3 << 3) | 2, 9]), Buffer.from('v')])
    assert.throws(() => decodeProcessingRequest(message(overrun), LIMITS))
    assert.throws(() => decodeProcessingRequest(message(overrun), LIMITS, FACT_SELECTION))
  })

  test('attribute entries in shapes other than key-then-value decode as protobuf says', () => {
    const field = (n: number, bytes: Buffer | string) => lenField(n, bytes, 'utf8')
    const str = (v: string) => field(3, v) // Value { string_value = 3 }
    const request = (...entries: Buffer[]) =>
      field(
        9, // ProcessingRequest.attributes entry
        Buffer.concat([
          field(1, 'envoy.filters.http.ext_proc'),
          field(2, Buffer.concat(entries.map((e) => field(1, e)))), // Struct { fields = 1 }
        ]),
      )
    const long = 'v'.repeat(20_000)
    const cases: Array<[string, Buffer, string, string]> = [
      ['Envoy shape', Buffer.concat([field(1, 'k'), field(2, str('v'))]), 'k', 'v'],
      ['value first', Buffer.concat([field(2, str('v')), field(1, 'k')]), 'k', 'v'],
      [
        'key twice: the last wins',
        Buffer.concat([field(1, 'a'), field(2, str('v')), field(1, 'k')]),
        'k',
        'v',
      ],
      [
        'value twice: the last wins',
        Buffer.concat([field(1, 'k'), field(2, str('old')), field(2, str('v'))]),
        'k',
        'v',
      ],
      [
        'an unknown varint field after the value',
        Buffer.concat([field(1, 'k'), field(2, str('v')), Buffer.from([7 << 3, 1])]),
        'k',
        'v',
      ],
      [
        'a 200-byte key',
        Buffer.concat([field(1, 'n'.repeat(200)), field(2, str('v'))]),
        'n'.repeat(200),
        'v',
      ],
      [
        'a 200-byte value',
        Buffer.concat([field(1, 'k'), field(2, str('w'.repeat(200)))]),
        'k',
        'w'.repeat(200),
      ],
      [
        'a 20,000-byte value (three-byte length)',
        Buffer.concat([field(1, 'k'), field(2, str(long))]),
        'k',
        long,
      ],
    ]
    const last = Buffer.concat([field(1, 'z'), field(2, str('last'))])
    for (const [name, entry, key, value] of cases) {
      const bytes = request(entry, last)
      const d = decodeProcessingRequest(bytes, LIMITS)
      assert.deepEqual(
        d.attributes,
        new Map([
          [key, value],
          ['z', 'last'],
        ]),
        name,
      )
      const only = new NameSet([key], 'utf8')
      const sel = decodeProcessingRequest(bytes, LIMITS, { headers: only, attributes: only })
      assert.deepEqual(sel.attributes, new Map([[key, value]]), `${name} (selected)`)
    }
    // A malformed Value fails the message even when its key is not selected.
    const bad = Buffer.concat([field(1, 'k'), field(2, Buffer.from([(3 << 3) | 2, 9, 0x76]))])
    assert.throws(() => decodeProcessingRequest(request(bad), LIMITS))
    assert.throws(() => decodeProcessingRequest(request(bad), LIMITS, FACT_SELECTION))
  })

  test('truncated input fails with a selection exactly when it fails without one', () => {
    const bytes = encode(HEADERS, ATTRS)
    const fails = (b: Uint8Array, s?: typeof FACT_SELECTION) => {
      try {
        decodeProcessingRequest(b, LIMITS, s)
        return false
      } catch {
        return true
      }
    }
    for (let cut = 1; cut < bytes.length; cut++) {
      const b = bytes.subarray(0, cut)
      assert.equal(fails(b, FACT_SELECTION), fails(b), `cut at ${cut}`)
    }
  })

  test('every header buildRequestFacts reads is in FACT_SELECTION (read from its switch)', () => {
    // The fixed HEADERS above cannot catch a header added to the switch but not to the
    // selection (it would arrive as absent, silently). The compiled module's case labels can.
    const source = readFileSync(
      new URL('../../src/extproc/build-request-facts.js', import.meta.url),
      'utf8',
    )
    const read = [...source.matchAll(/case '([^']+)':/g)].map((m) => m[1] as string)
    assert.ok(read.length >= 8, `found the switch's cases: ${read.join(', ')}`)
    for (const name of read) {
      const bytes = Buffer.from(name, 'latin1')
      assert.equal(FACT_SELECTION.headers.match(bytes, 0, bytes.length), name, name)
    }
  })

  test('request facts are the same as from a full decode (every header facts read arrives)', () => {
    for (const xfcc of [false, true]) {
      for (const drop of [undefined, ...HEADERS.map(([n]) => n)]) {
        const headers = HEADERS.filter(([n]) => n !== drop)
        const bytes = encode(headers, ATTRS)
        const full = decodeProcessingRequest(bytes, LIMITS)
        const sel = decodeProcessingRequest(bytes, LIMITS, FACT_SELECTION)
        assert.deepEqual(
          buildRequestFacts(sel.headers, sel.attributes, { xfcc }),
          buildRequestFacts(full.headers, full.attributes, { xfcc }),
        )
      }
    }
    // Each selected header changes the facts when present, so none can be silently dropped.
    const base = buildRequestFacts(
      decodeProcessingRequest(encode(HEADERS, ATTRS), LIMITS, FACT_SELECTION).headers,
      undefined,
      { xfcc: true },
    )
    for (const [name] of HEADERS.slice(0, 10).filter(
      ([n]) => n !== ':scheme' && n !== 'user-agent',
    )) {
      const without = decodeProcessingRequest(
        encode(
          HEADERS.filter(([n]) => n !== name),
          ATTRS,
        ),
        LIMITS,
        FACT_SELECTION,
      )
      assert.notDeepEqual(buildRequestFacts(without.headers, undefined, { xfcc: true }), base, name)
    }
  })
})
