import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import {
  allowMutation,
  denyOf,
  exchange,
  type Headers,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

// Issue 20, item 1, through the real processor: spellings that stepped around a rule are now
// either judged as the rule's own spelling or refused with 400 and a stable reason.

const CONFIG = `
policy:
  rules:
    - name: internal
      path: /api/internal
      deny: true
    - name: no-delete
      methods: [DELETE]
      path: /api/**
      deny: true
    - name: admin-host
      hosts: [admin.example.org]
      path: /**
      deny: true
    - name: admin-path
      path: /admin/**
      deny: true
    - name: api
      path: /api/**
      public: true
`

function req(path: string, over: Record<string, string> = {}): Record<string, string> {
  return { ':method': 'GET', ':path': path, ':authority': 'api.example.org', ...over }
}

describe('matching an attacker cannot step around, through the processor', () => {
  let srv: TestServer
  let client: grpc.Client
  before(async () => {
    srv = await startTestServer(CONFIG)
    client = newClient(srv.port)
  })
  after(async () => {
    client.close()
    await srv.close()
  })

  async function deny(headers: Headers) {
    const { responses } = await exchange(client, [requestHeaders(headers)])
    const d = denyOf(responses[0])
    return { status: d.status, reason: d.reason, details: d.details }
  }

  test('a trailing slash is judged as the path without it', async () => {
    assert.deepEqual((await deny(req('/api/internal/'))).reason, 'rule_denies')
    const { responses } = await exchange(client, [requestHeaders(req('/api/other/'))])
    assert.equal(allowMutation(responses[0]).set.size, 0) // public: allowed, nothing set
  })

  const refused: Array<[name: string, headers: Headers, reason: string]> = [
    ['lower-case method', req('/api/x', { ':method': 'delete' }), 'method_invalid'],
    ['method with a trailing space', req('/api/x', { ':method': 'DELETE ' }), 'method_invalid'],
    ['userinfo', req('/api/x', { ':authority': 'x@admin.example.org' }), 'authority_invalid'],
    [
      'a port that is not one',
      req('/api/x', { ':authority': 'api.example.org:evil' }),
      'authority_invalid',
    ],
    [
      'duplicate :authority',
      [
        [':method', 'GET'],
        [':path', '/api/x'],
        [':authority', 'api.example.org'],
        [':authority', 'admin.example.org'],
      ],
      'request_malformed',
    ],
    ['overlong UTF-8 dot', req('/api/%E0%80%AE%E0%80%AE/admin'), 'path_invalid'],
    ['fullwidth dots', req('/api/%EF%BC%8E%EF%BC%8E/admin'), 'path_invalid'],
    ['a fragment', req('/api/x#/../../admin'), 'path_invalid'],
  ]
  for (const [name, headers, reason] of refused) {
    test(`${name}: 400 ${reason}`, async () => {
      const d = await deny(headers)
      assert.equal(d.status, 400)
      assert.equal(d.reason, reason)
      assert.equal(d.details, `extproc_authz_${reason}`)
    })
  }

  test('a trailing dot and upper case reach the host rule', async () => {
    for (const authority of ['admin.example.org.', 'ADMIN.example.org.:443']) {
      const d = await deny(req('/api/x', { ':authority': authority }))
      assert.deepEqual([d.status, d.reason], [403, 'rule_denies'], authority)
    }
  })
})
