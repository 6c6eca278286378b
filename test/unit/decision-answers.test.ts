import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Allow, Deny } from '../../src/authz/decision.js'
import { type DenyReason, REASONS } from '../../src/authz/reasons.js'
import type { RequestFacts } from '../../src/authz/request-facts.js'
import { ConfigSchema } from '../../src/config/schema.js'
import {
  appendDynamicMetadata,
  stringStructField,
  utf8Key,
} from '../../src/extproc/codec/dynamic-metadata.js'
import { encodeContinue } from '../../src/extproc/codec/processing-response.js'
import { METADATA_KEYS } from '../../src/extproc/decision-metadata.js'
import { type AnswerOptions, Responder } from '../../src/extproc/respond.js'
import { SessionHasher } from '../../src/shared/session-hasher.js'
import { bearerChallenges, quotedString } from '../../src/tokens/bearer-challenge.js'
import { ProcessingResponseType as ProcessingResponse } from '../helpers/reference-codec.js'

// What Envoy gets besides the status: the decision as dynamic metadata (decoded here by
// protobufjs, the reference codec) and RFC 6750 challenges on the 401s of runner-token rules.

const HEADERS = {
  spiffeId: 'x-spiffe-id',
  sessionId: 'x-runner-session-id',
  strip: [],
  stripAuthorization: true,
}
// The server's log hash: the metadata's session hash is the decision log's.
const HASHER = new SessionHasher(Buffer.alloc(32, 7))
const hashSessionId = (id: string): string => HASHER.hash(id)
const ON: AnswerOptions = {
  metadata: { namespace: 'extproc_authz', xfcc: false, hasher: HASHER },
}
const WITH_REQUEST_ID: AnswerOptions = {
  metadata: { namespace: 'extproc_authz', xfcc: false, requestId: true, hasher: HASHER },
}
const PEER = {
  uri: 'spiffe://example.org/ns/ci/sa/runner',
  trustDomain: 'example.org',
  path: '/ns/ci/sa/runner',
}

function facts(more: Partial<RequestFacts> = {}): RequestFacts {
  return {
    method: 'GET',
    path: '/api/x',
    segments: ['api', 'x'],
    host: 'h',
    peer: PEER,
    bearer: undefined,
    requestId: 'req-1',
    grpc: false,
    ...more,
  }
}

const allowed = (sessionId?: string, rule = 'api'): Allow => ({
  allow: true,
  rule,
  reason: 'allowed',
  spiffeId: PEER.uri,
  sessionId,
})
const denied = (reason: DenyReason, rule?: string): Deny => ({
  allow: false,
  rule,
  reason,
  detail: 'x',
})

interface Decoded {
  request_headers?: unknown
  immediate_response?: {
    status: { code: number }
    headers?: { set_headers: Array<{ header: { key: string; raw_value: string } }> }
    body: string
    details: string
  }
  dynamic_metadata?: {
    fields: Array<{ key: string; value: { struct_value: { fields: Entry[] } } }>
  }
}
interface Entry {
  key: string
  value: { string_value: string }
}

function decode(bytes: Buffer): Decoded {
  return ProcessingResponse.toObject(ProcessingResponse.decode(bytes), {
    bytes: String,
    defaults: false,
  }) as Decoded
}

/** The namespaces of dynamic_metadata, each as a plain key -> string object. */
function metadata(bytes: Buffer): Record<string, Record<string, string>> | undefined {
  const md = decode(bytes).dynamic_metadata
  if (md === undefined) return undefined
  return Object.fromEntries(
    md.fields.map((ns) => [
      ns.key,
      Object.fromEntries(ns.value.struct_value.fields.map((f) => [f.key, f.value.string_value])),
    ]),
  )
}

function headersOf(bytes: Buffer): Record<string, string> {
  const ir = decode(bytes).immediate_response
  return Object.fromEntries(
    (ir?.headers?.set_headers ?? []).map((h) => [
      h.header.key,
      Buffer.from(h.header.raw_value, 'base64').toString('latin1'),
    ]),
  )
}

describe('decision metadata (ProcessingResponse.dynamic_metadata)', () => {
  test('an allow carries decision, reason, rule, peer, trust domain, source, session hash, request id', () => {
    const r = new Responder(HEADERS, WITH_REQUEST_ID)
    const bytes = r.allow(allowed('sess-secret-42', 'runner-session'), facts())
    assert.deepEqual(metadata(bytes), {
      extproc_authz: {
        decision: 'allow',
        reason: 'allowed',
        rule: 'runner-session',
        identity_source: 'peer_certificate',
        peer: PEER.uri,
        trust_domain: 'example.org',
        request_id: 'req-1',
        session_hash: hashSessionId('sess-secret-42'),
      },
    })
    // The header mutation is the one the allow carries without metadata.
    assert.deepEqual(
      decode(bytes).request_headers,
      decode(new Responder(HEADERS).allow(allowed('sess-secret-42', 'runner-session')))
        .request_headers,
    )
    assert.ok(
      !JSON.stringify(metadata(bytes)).includes('sess-secret-42'),
      'never the session id itself',
    )
  })

  test('with request_id, answers built from cached fields carry each request its own id and rule', () => {
    const r = new Responder(HEADERS, WITH_REQUEST_ID)
    for (let i = 0; i < 3; i++) {
      for (const rule of ['a', 'b']) {
        const md = metadata(r.allow(allowed('s', rule), facts({ requestId: `req-${i}-${rule}` })))
        assert.equal(md?.extproc_authz?.request_id, `req-${i}-${rule}`)
        assert.equal(md?.extproc_authz?.rule, rule)
      }
    }
    const none = metadata(r.allow(allowed('s'), facts({ requestId: undefined, peer: undefined })))
    assert.deepEqual(Object.keys(none?.extproc_authz ?? {}).sort(), [
      'decision',
      'reason',
      'rule',
      'session_hash',
    ])
  })

  test('a deny carries its reason and rule; no peer or request id when the request had none', () => {
    const r = new Responder(HEADERS, WITH_REQUEST_ID)
    assert.deepEqual(
      metadata(r.deny(denied('identity_not_allowed', 'api'), facts()))?.extproc_authz,
      {
        decision: 'deny',
        reason: 'identity_not_allowed',
        rule: 'api',
        identity_source: 'peer_certificate',
        peer: PEER.uri,
        trust_domain: 'example.org',
        request_id: 'req-1',
      },
    )
    assert.deepEqual(metadata(r.deny(denied('request_malformed'), undefined)), {
      extproc_authz: { decision: 'deny', reason: 'request_malformed' },
    })
  })

  test('without request_id (the default): one answer per peer, session and rule, reused', () => {
    const r = new Responder(HEADERS, ON)
    const a = r.allow(allowed('s-1', 'rs'), facts({ requestId: 'one' }))
    assert.equal(r.allow(allowed('s-1', 'rs'), facts({ requestId: 'two' })), a, 'the same Buffer')
    assert.equal(metadata(a)?.extproc_authz?.request_id, undefined)
    assert.equal(metadata(a)?.extproc_authz?.session_hash, hashSessionId('s-1'))
    const other = r.allow(allowed('s-1', 'other-rule'), facts())
    assert.equal(metadata(other)?.extproc_authz?.rule, 'other-rule')
    const s2 = r.allow(allowed('s-2', 'rs'), facts())
    assert.equal(metadata(s2)?.extproc_authz?.session_hash, hashSessionId('s-2'))
    const peer2 = { uri: 'spiffe://example.org/b', trustDomain: 'example.org', path: '/b' }
    const b = r.allow({ ...allowed('s-1', 'rs'), spiffeId: peer2.uri }, facts({ peer: peer2 }))
    assert.equal(metadata(b)?.extproc_authz?.peer, peer2.uri)
    assert.equal(metadata(r.allow(allowed('s-1', 'rs'), facts()))?.extproc_authz?.peer, PEER.uri)
    // Without facts (or with facts of another peer) nothing is held under that answer.
    const bare = r.allow(allowed('s-9', 'rs'))
    assert.equal(metadata(bare)?.extproc_authz?.peer, undefined)
    assert.equal(metadata(r.allow(allowed('s-9', 'rs'), facts()))?.extproc_authz?.peer, PEER.uri)
  })

  test('a rotated log hash key: reused answers carry the session hash under the new key', () => {
    const hasher = new SessionHasher(Buffer.alloc(32, 1))
    const r = new Responder(HEADERS, {
      metadata: { namespace: 'extproc_authz', xfcc: false, hasher },
    })
    const before = r.allow(allowed('s-1', 'rs'), facts())
    const old = hasher.hash('s-1')
    assert.equal(metadata(before)?.extproc_authz?.session_hash, old)
    hasher.setKey(Buffer.alloc(32, 2))
    const after = r.allow(allowed('s-1', 'rs'), facts())
    assert.notEqual(hasher.hash('s-1'), old)
    assert.equal(metadata(after)?.extproc_authz?.session_hash, hasher.hash('s-1'))
  })

  test('the held answers are bounded: past the bound they start over, and stay right', () => {
    const r = new Responder(HEADERS, ON)
    // ~4 MiB of answers: peers with 2 KiB IDs, each answer a few KiB.
    for (let i = 0; i < 3000; i++) {
      const uri = `spiffe://example.org/${'p'.repeat(2000)}${i}`
      const peer = { uri, trustDomain: 'example.org', path: uri.slice(26) }
      const bytes = r.allow({ ...allowed(undefined, 'rs'), spiffeId: uri }, facts({ peer }))
      if (i % 500 === 0) assert.equal(metadata(bytes)?.extproc_authz?.peer, uri)
    }
    const held = (r as unknown as { metadata: { answers: { bytes: number } } }).metadata.answers
      .bytes
    assert.ok(held > 0 && held <= 4 * 1024 * 1024, String(held))
  })

  test('the namespace and the identity source follow the options', () => {
    const r = new Responder(HEADERS, {
      metadata: { namespace: 'authz.v1', xfcc: true, hasher: HASHER },
    })
    const md = metadata(r.allow(allowed(), facts()))
    assert.deepEqual(Object.keys(md ?? {}), ['authz.v1'])
    assert.equal(md?.['authz.v1']?.identity_source, 'xfcc')
  })

  test('off: the answers are byte for byte those without the feature, no field 8', () => {
    const off = new Responder(HEADERS, { metadata: undefined })
    const on = new Responder(HEADERS, ON)
    const a = off.allow(allowed('s'), facts())
    assert.equal(metadata(a), undefined)
    assert.ok(on.allow(allowed('s'), facts()).length > a.length)
    // The cached answer itself is returned: nothing is built per request.
    assert.equal(off.allow(allowed('s'), facts({ requestId: 'other' })), a)
    assert.equal(metadata(off.deny(denied('rule_denies', 'x'), facts())), undefined)
  })
})

describe('appendDynamicMetadata agrees with protobufjs', () => {
  test('multi-byte lengths, non-ASCII values, an empty value, with and without a tail', () => {
    const answer = encodeContinue('request_headers')
    const cases: Array<[Record<string, string>, [string, string] | undefined]> = [
      [{}, undefined],
      [{ a: '' }, ['t', '']],
      [{ long: 'x'.repeat(300), ключ: 'значение ✓' }, ['tail', 'y'.repeat(20_000)]],
      [{ k: 'v' }, ['request_id', 'naïve-☃-id']],
    ]
    for (const [fields, tail] of cases) {
      const bytes = appendDynamicMetadata(
        answer,
        utf8Key('ns.é'),
        Object.entries(fields).map(([k, v]) => stringStructField(k, v)),
        tail === undefined ? undefined : { key: utf8Key(tail[0]), value: tail[1] },
      )
      const expected = { ...fields, ...(tail === undefined ? {} : { [tail[0]]: tail[1] }) }
      const md = decode(bytes).dynamic_metadata
      const ns = md?.fields[0]
      assert.equal(md?.fields.length, 1)
      assert.equal(ns?.key, 'ns.é')
      assert.deepEqual(
        Object.fromEntries(
          (ns?.value.struct_value.fields ?? []).map((f) => [f.key, f.value.string_value ?? '']),
        ),
        expected,
      )
      assert.ok(decode(bytes).request_headers !== undefined, 'the answer itself is kept')
    }
  })
})

describe('WWW-Authenticate on 401s (RFC 6750 §3)', () => {
  const r = new Responder(HEADERS, { realm: 'ci "runners" \\ prod' })
  const realm = 'Bearer realm="ci \\"runners\\" \\\\ prod"'

  test('token_missing: the realm and no error code', () => {
    assert.equal(
      headersOf(r.deny(denied('token_missing', 'rs'), facts()))['www-authenticate'],
      realm,
    )
  })

  test('token_invalid and token_expired: error="invalid_token", one challenge for both', () => {
    const invalid = r.deny(denied('token_invalid', 'rs'), facts())
    const expired = r.deny(denied('token_expired', 'rs'), facts())
    assert.equal(headersOf(invalid)['www-authenticate'], `${realm}, error="invalid_token"`)
    // Status and headers are one; the body names the reason (as before this challenge), and no
    // error_description is added that could say more about a failure.
    assert.deepEqual(headersOf(invalid), headersOf(expired))
    assert.equal(
      decode(invalid).immediate_response?.status.code,
      decode(expired).immediate_response?.status.code,
    )
  })

  test('no challenge on any other deny, identity_missing (a TLS credential) included', () => {
    for (const reason of Object.keys(REASONS) as DenyReason[]) {
      if (reason.startsWith('token_')) continue
      const h = headersOf(r.deny(denied(reason, 'x'), facts()))
      assert.equal(h['www-authenticate'], undefined, reason)
      assert.equal(h['content-type'], 'application/json', reason)
    }
  })

  test('the default realm is the service name; a realm outside printable ASCII is refused', () => {
    const d = new Responder(HEADERS)
    assert.equal(
      headersOf(d.deny(denied('token_missing'), undefined))['www-authenticate'],
      'Bearer realm="extproc-authz"',
    )
    assert.equal(quotedString('a"b\\c'), '"a\\"b\\\\c"')
    for (const bad of ['', 'line\nbreak', 'caf\u00e9', 'x'.repeat(129)]) {
      assert.throws(
        () => bearerChallenges(bad),
        { code: 'ERR_CONFIG_INVALID' },
        JSON.stringify(bad),
      )
    }
  })
})

describe('config: decision_metadata and runner_tokens.realm', () => {
  const base = { policy: { rules: [] } }
  test('defaults: metadata on under extproc_authz; realm extproc-authz', () => {
    const c = ConfigSchema.parse({ ...base, runner_tokens: { private_keys: ['k.pem'] } })
    assert.deepEqual(c.decision_metadata, {
      enabled: true,
      namespace: 'extproc_authz',
      request_id: false,
    })
    assert.equal(c.runner_tokens?.realm, 'extproc-authz')
  })
  test("namespaces that would break %DYNAMIC_METADATA(ns:key)% or take Envoy's are refused", () => {
    for (const namespace of [
      'a:b',
      '',
      'envoy.filters.http.ext_proc',
      'has space',
      'x'.repeat(65),
    ]) {
      const r = ConfigSchema.safeParse({ ...base, decision_metadata: { namespace } })
      assert.equal(r.success, false, namespace)
    }
    assert.equal(
      ConfigSchema.safeParse({ ...base, decision_metadata: { namespace: 'authz.v1' } }).success,
      true,
    )
  })
  test('realms with control or non-ASCII characters are refused', () => {
    for (const realm of ['a\r\nX-Injected: 1', 'caf\u00e9', '']) {
      const r = ConfigSchema.safeParse({
        ...base,
        runner_tokens: { private_keys: ['k.pem'], realm },
      })
      assert.equal(r.success, false, JSON.stringify(realm))
    }
  })
  test('the keys are the documented ones', () => {
    assert.deepEqual(Object.values(METADATA_KEYS), [
      'decision',
      'reason',
      'rule',
      'identity_source',
      'peer',
      'trust_domain',
      'session_hash',
      'request_id',
    ])
  })
})
