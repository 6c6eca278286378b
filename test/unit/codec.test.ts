import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeProcessingRequest } from '../../src/extproc/codec/processing-request.js'
import {
  encodeContinue,
  encodeImmediateResponse,
} from '../../src/extproc/codec/processing-response.js'
import { Responder } from '../../src/extproc/respond.js'
import { ProcessingRequestType, ProcessingResponseType } from '../helpers/reference-codec.js'

const ProcessingRequest = ProcessingRequestType
const ProcessingResponse = ProcessingResponseType
const LIMITS = { maxHeaders: 100, maxHeaderBytes: 65536 }

function encodeRequest(obj: Record<string, unknown>): Uint8Array {
  return ProcessingRequest.encode(ProcessingRequest.fromObject(obj)).finish()
}

describe('ProcessingRequest decoding agrees with protobufjs', () => {
  test('headers (raw_value and value), attributes; end_of_stream, observability_mode and unknown fields skipped', () => {
    const bytes = encodeRequest({
      request_headers: {
        headers: {
          headers: [
            { key: ':path', raw_value: Buffer.from('/a?b=1') },
            { key: 'x-old', value: 'legacy' },
            { key: 'x-both', value: 'ignored', raw_value: Buffer.from('raw wins') },
            { key: 'x-bin', raw_value: Buffer.from([0xff, 0x00, 0x80]) },
            { key: 'dup', raw_value: Buffer.from('1') },
            { key: 'dup', raw_value: Buffer.from('2') },
          ],
        },
        end_of_stream: true,
      },
      // Built from a descriptor set, protobufjs takes map fields as lists of {key, value}.
      metadata_context: {
        filter_metadata: [
          { key: 'a', value: { fields: [{ key: 'b', value: { string_value: 'c' } }] } },
        ],
      },
      attributes: [
        {
          key: 'envoy.filters.http.ext_proc',
          value: {
            fields: [
              {
                key: 'connection.uri_san_peer_certificate',
                value: { string_value: 'spiffe://td/x' },
              },
              { key: 'connection.mtls', value: { bool_value: true } },
              { key: 'request.size', value: { number_value: 42.5 } },
              {
                key: 'source.nested',
                value: { struct_value: { fields: [{ key: 'a', value: { null_value: 0 } }] } },
              },
              { key: 'request.null', value: { null_value: 0 } },
            ],
          },
        },
        {
          key: 'other.filter',
          value: {
            fields: [
              {
                key: 'connection.uri_san_peer_certificate',
                value: { string_value: 'spiffe://evil/x' },
              },
            ],
          },
        },
      ],
      observability_mode: true,
    })
    const d = decodeProcessingRequest(bytes, LIMITS)
    assert.equal(d.phase, 'request_headers')
    assert.deepEqual(d.headers, [
      { name: ':path', value: '/a?b=1' },
      { name: 'x-old', value: 'legacy' },
      { name: 'x-both', value: 'raw wins' },
      { name: 'x-bin', value: '\xff\x00\x80' },
      { name: 'dup', value: '1' },
      { name: 'dup', value: '2' },
    ])
    assert.deepEqual(
      d.attributes,
      new Map<string, unknown>([
        ['connection.uri_san_peer_certificate', 'spiffe://td/x'],
        ['connection.mtls', true],
        ['request.size', 42.5],
        ['request.null', null],
      ]),
    )
  })

  test('every phase of the oneof', () => {
    const phases = [
      ['request_headers', 'request_headers', { headers: { headers: [] } }],
      ['response_headers', 'response_headers', { headers: { headers: [] } }],
      ['request_body', 'request_body', { body: Buffer.from('x'), end_of_stream: true }],
      ['response_body', 'response_body', { body: Buffer.from('x') }],
      ['request_trailers', 'request_trailers', { trailers: { headers: [] } }],
      ['response_trailers', 'response_trailers', { trailers: { headers: [] } }],
    ] as const
    for (const [field, phase, value] of phases) {
      const d = decodeProcessingRequest(encodeRequest({ [field]: value }), LIMITS)
      assert.equal(d.phase, phase)
    }
    // A body is walked (a corrupt one throws) but nothing of it is read.
    assert.equal(
      decodeProcessingRequest(encodeRequest({ request_body: { end_of_stream: true } }), LIMITS)
        .phase,
      'request_body',
    )
    assert.equal(decodeProcessingRequest(new Uint8Array(0), LIMITS).phase, undefined)
  })

  test('corrupt input throws (the stream turns it into a deny)', () => {
    const good = encodeRequest({
      request_headers: { headers: { headers: [{ key: 'a', raw_value: Buffer.from('b') }] } },
    })
    for (let cut = 1; cut < good.length; cut++) {
      assert.throws(() => decodeProcessingRequest(good.subarray(0, cut), LIMITS))
    }
    assert.throws(() => decodeProcessingRequest(Uint8Array.from([0x0b]), LIMITS), /wire type/) // group
    assert.throws(() => decodeProcessingRequest(Uint8Array.from(Array(11).fill(0xff)), LIMITS))
    // request_body (field 4) holding a field of wire type 7: the unread body is still walked.
    assert.throws(() => decodeProcessingRequest(Uint8Array.from([0x22, 0x01, 0x0f]), LIMITS))
  })
})

describe('ProcessingResponse encoding decodes with protobufjs', () => {
  test('CONTINUE with header mutation in raw_value and OVERWRITE_IF_EXISTS_OR_ADD', () => {
    const bytes = encodeContinue('request_headers', {
      set: [{ name: 'x-spiffe-id', value: 'spiffe://td/x' }],
      remove: ['x-runner-session-id', 'authorization'],
    })
    const obj = ProcessingResponse.toObject(ProcessingResponse.decode(bytes), {
      enums: String,
      bytes: String,
      defaults: false,
    })
    assert.deepEqual(obj, {
      request_headers: {
        response: {
          header_mutation: {
            set_headers: [
              {
                header: {
                  key: 'x-spiffe-id',
                  raw_value: Buffer.from('spiffe://td/x').toString('base64'),
                },
                append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            ],
            remove_headers: ['x-runner-session-id', 'authorization'],
          },
        },
      },
    })
  })

  test('plain CONTINUE for each phase', () => {
    for (const [phase, field] of [
      ['request_headers', 'request_headers'],
      ['response_headers', 'response_headers'],
      ['request_body', 'request_body'],
      ['response_body', 'response_body'],
      ['request_trailers', 'request_trailers'],
      ['response_trailers', 'response_trailers'],
    ] as const) {
      const obj = ProcessingResponse.toObject(ProcessingResponse.decode(encodeContinue(phase)), {
        oneofs: true,
      }) as Record<string, unknown>
      assert.equal(obj.response, field)
    }
  })

  test('immediate response carries status, headers, body, grpc status and details', () => {
    const bytes = encodeImmediateResponse({
      status: 403,
      headers: [{ name: 'content-type', value: 'application/json' }],
      body: Buffer.from('{"a":1}'),
      details: 'extproc_authz_x',
      grpcStatus: 7,
    })
    const obj = ProcessingResponse.toObject(ProcessingResponse.decode(bytes), {
      enums: String,
      bytes: String,
    }) as {
      immediate_response: {
        status: { code: string }
        details: string
        body: string
        grpc_status: { status: number }
        headers: { set_headers: Array<{ header: { key: string } }> }
      }
    }
    const ir = obj.immediate_response
    assert.equal(ir.status.code, 'Forbidden')
    assert.equal(ir.details, 'extproc_authz_x')
    assert.equal(Buffer.from(ir.body, 'base64').toString(), '{"a":1}')
    assert.equal(ir.grpc_status.status, 7)
    assert.equal(ir.headers.set_headers[0]?.header.key, 'content-type')
    assert.throws(
      () =>
        encodeImmediateResponse({ status: 0, headers: [], body: new Uint8Array(), details: '' }),
      { code: 'ERR_INTERNAL' },
    )
  })
})

describe('Responder allow answers', () => {
  const options = {
    spiffeId: 'x-spiffe-id',
    sessionId: 'x-runner-session-id',
    strip: ['x-internal'],
  }
  const responders = {
    strip: new Responder({ ...options, stripAuthorization: true }),
    keep: new Responder({ ...options, stripAuthorization: false }),
  }
  const responder = responders.strip
  const mutation = (bytes: Buffer) => {
    const m = ProcessingResponse.toObject(ProcessingResponse.decode(bytes), {
      bytes: String,
      defaults: false,
    }).request_headers?.response?.header_mutation
    return {
      set: Object.fromEntries(
        (m?.set_headers ?? []).map((h: { header: { key: string; raw_value: string } }) => [
          h.header.key,
          Buffer.from(h.header.raw_value, 'base64').toString('latin1'),
        ]),
      ),
      remove: (m?.remove_headers ?? []) as string[],
    }
  }
  const allow = (spiffeId?: string, sessionId?: string, r: Responder = responder) =>
    r.allow({ allow: true, rule: 'r', reason: 'allowed', spiffeId, sessionId })
  // Every '-'/'_' spelling of an owned header (upstreams that fold them read x_spiffe_id as
  // x-spiffe-id), in the order the responder lists them.
  const spellings: Record<string, string[]> = {
    'x-spiffe-id': ['x-spiffe-id', 'x-spiffe_id', 'x_spiffe-id', 'x_spiffe_id'],
    'x-runner-session-id': [
      'x-runner-session-id',
      'x-runner-session_id',
      'x-runner_session-id',
      'x-runner_session_id',
      'x_runner-session-id',
      'x_runner-session_id',
      'x_runner_session-id',
      'x_runner_session_id',
    ],
    'x-internal': ['x-internal', 'x_internal'],
  }

  test('each combination of peer and session gets its own answer, reused after', () => {
    const combos: Array<[string | undefined, string | undefined]> = [
      ['spiffe://td/a', undefined],
      ['spiffe://td/a', 's-1'],
      ['spiffe://td/a', 's-2'],
      [undefined, 's-1'],
      [undefined, undefined],
      // Would collide in a key that just concatenated the two.
      ['spiffe://td/a1', undefined],
      ['spiffe://td/a', '1'],
    ]
    for (const [name, r] of Object.entries(responders)) {
      for (const [peer, session] of combos) {
        const first = allow(peer, session, r)
        assert.equal(allow(peer, session, r), first, 'the same answer is reused')
        const m = mutation(first)
        const set: Record<string, string> = {}
        if (peer !== undefined) set['x-spiffe-id'] = peer
        if (session !== undefined) set['x-runner-session-id'] = session
        assert.deepEqual(m.set, set, `${peer} ${session} ${name}`)
        const remove = Object.values(spellings)
          .flat()
          .filter((h) => !(h in set))
        // Authorization goes on every allow while stripping is on, with or without a token.
        assert.deepEqual(m.remove, name === 'strip' ? [...remove, 'authorization'] : remove)
      }
    }
  })

  test('past the bound the memo starts over, and answers stay right', () => {
    for (let i = 0; i < 5000; i++) allow('spiffe://td/a', `s-${i}`)
    const again = allow('spiffe://td/a', 's-7')
    assert.deepEqual(mutation(again).set, {
      'x-spiffe-id': 'spiffe://td/a',
      'x-runner-session-id': 's-7',
    })
    assert.equal(allow('spiffe://td/a', 's-7'), again)
  })
})
