import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type * as grpc from '@grpc/grpc-js'
import {
  allowMutation,
  denyOf,
  exchange,
  newClient,
  requestHeaders,
} from '../helpers/extproc-client.js'
import { API_FOR_EXAMPLE_ORG } from '../helpers/policies.js'
import { startTestServer, type TestServer } from '../helpers/test-server.js'

const PROXY_ELEMENT =
  'By=spiffe://example.org/envoy;Hash=abc123;Subject="CN=runner, O=Example";URI=spiffe://example.org/ns/ci/sa/runner'
const BASE = { ':method': 'GET', ':path': '/api/x', ':authority': 'api.example.org' }

describe('peer identity from x-forwarded-client-cert', () => {
  let on: TestServer
  let off: TestServer
  let onClient: grpc.Client
  let offClient: grpc.Client
  before(async () => {
    on = await startTestServer(`${API_FOR_EXAMPLE_ORG}\nidentity:\n  xfcc:\n    enabled: true\n`)
    off = await startTestServer(API_FOR_EXAMPLE_ORG)
    onClient = newClient(on.port)
    offClient = newClient(off.port)
  })
  after(async () => {
    onClient.close()
    offClient.close()
    await on.close()
    await off.close()
  })

  test('enabled: the URI of the XFCC element is the peer', async () => {
    const { responses } = await exchange(onClient, [
      requestHeaders({ ...BASE, 'x-forwarded-client-cert': PROXY_ELEMENT }),
    ])
    assert.equal(
      allowMutation(responses[0]).set.get('x-spiffe-id'),
      'spiffe://example.org/ns/ci/sa/runner',
    )
  })

  test('enabled: an element a client put before the proxy one means no identity', async () => {
    const spoof = 'URI=spiffe://example.org/ns/admin'
    const { responses } = await exchange(onClient, [
      requestHeaders({ ...BASE, 'x-forwarded-client-cert': `${spoof},${PROXY_ELEMENT}` }),
    ])
    assert.equal(denyOf(responses[0]).reason, 'identity_missing')
  })

  // Envoy writes URI= unquoted: a client certificate whose URI SAN holds a comma splices a
  // second element into the one SANITIZE_SET writes (issue 19).
  test('enabled: a URI SAN with a comma splicing a second element means no identity', async () => {
    const spliced =
      'By=spiffe://example.org/envoy;Hash=ab;URI=spiffe://example.org/ns/ci/x,URI=spiffe://example.org/ns/ci/sa/runner'
    const { responses } = await exchange(onClient, [
      requestHeaders({ ...BASE, 'x-forwarded-client-cert': spliced }),
    ])
    assert.equal(denyOf(responses[0]).reason, 'identity_missing')
  })

  test('enabled: the Envoy attribute is not used as a fallback', async () => {
    const { responses } = await exchange(onClient, [
      requestHeaders(BASE, {
        attributes: { 'connection.uri_san_peer_certificate': 'spiffe://example.org/x' },
      }),
    ])
    assert.equal(denyOf(responses[0]).reason, 'identity_missing')
  })

  const noIdentity: Array<[string, Array<[string, string]>]> = [
    [
      'two XFCC headers (not sanitized)',
      [
        ['x-forwarded-client-cert', PROXY_ELEMENT],
        ['x-forwarded-client-cert', PROXY_ELEMENT],
      ],
    ],
    [
      'two URI SANs in the element',
      [['x-forwarded-client-cert', 'URI=spiffe://example.org/a;URI=spiffe://example.org/b']],
    ],
    ['bare URI=', [['x-forwarded-client-cert', 'By=spiffe://example.org/envoy;URI=']]],
    [
      'unterminated quote',
      [['x-forwarded-client-cert', 'Subject="CN=x;URI=spiffe://example.org/a']],
    ],
    ['not a SPIFFE ID', [['x-forwarded-client-cert', 'URI=https://example.org/a']]],
  ]
  for (const [name, headers] of noIdentity) {
    test(`enabled: ${name} -> no identity`, async () => {
      const { responses } = await exchange(onClient, [
        requestHeaders([...Object.entries(BASE), ...headers]),
      ])
      assert.equal(denyOf(responses[0]).reason, 'identity_missing')
    })
  }

  test('disabled: a client-sent XFCC header changes nothing', async () => {
    const { responses } = await exchange(offClient, [
      requestHeaders({ ...BASE, 'x-forwarded-client-cert': PROXY_ELEMENT }),
    ])
    assert.equal(denyOf(responses[0]).reason, 'identity_missing')
    const withAttr = await exchange(offClient, [
      requestHeaders(
        { ...BASE, 'x-forwarded-client-cert': 'URI=spiffe://example.org/ns/admin' },
        { attributes: { 'connection.uri_san_peer_certificate': 'spiffe://example.org/ns/web' } },
      ),
    ])
    assert.equal(
      allowMutation(withAttr.responses[0]).set.get('x-spiffe-id'),
      'spiffe://example.org/ns/web',
    )
  })
})
