import type { ProcessingRequest } from '../src/gen/envoy/service/ext_proc/v3/ProcessingRequest.js'
import { requestHeaders } from '../test/helpers/extproc-client.js'

/** What the answer must be for a stream to count as a success. */
export type Expect = 'allow' | 'deny'

/**
 * One benchmark scenario: a policy, the request Envoy would send, the expected answer. Each is
 * one entry, so other modules (runner tokens) add theirs by appending to SCENARIOS.
 */
export interface Scenario {
  readonly name: string
  readonly description: string
  readonly configYaml: string
  readonly request: ProcessingRequest
  readonly expect: Expect
}

const POLICY = `
policy:
  rules:
    - name: healthz
      methods: [GET]
      path: /healthz
      public: true
    - name: sessions
      methods: [GET, POST]
      path: /api/sessions/{session}/**
      any_of:
        - spiffe:
            ids: [spiffe://example.org/ns/ci/sa/runner]
        - spiffe:
            prefixes: [spiffe://example.org/ns/prod]
    - name: api
      path: /api/**
      any_of:
        - spiffe:
            trust_domains: [example.org]
`

/** Headers as a browser-ish client behind Envoy sends them: realistic count and sizes. */
function envoyHeaders(method: string, path: string): Array<[string, string]> {
  return [
    [':method', method],
    [':scheme', 'https'],
    [':authority', 'api.example.org'],
    [':path', path],
    ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)'],
    ['accept', 'application/json, text/plain, */*'],
    ['accept-encoding', 'gzip, deflate, br'],
    ['accept-language', 'en-US,en;q=0.9'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-for', '10.1.2.3'],
    ['x-request-id', '2f1e7c8a-61b4-4d6e-9a51-0c1f3e5d7b92'],
    ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['x-envoy-expected-rq-timeout-ms', '15000'],
  ]
}

function attributes(peer: string) {
  return {
    'connection.uri_san_peer_certificate': peer,
    'connection.mtls': true,
    'request.id': '2f1e7c8a-61b4-4d6e-9a51-0c1f3e5d7b92',
    'source.address': '10.1.2.3:53412',
  }
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'public',
    description: 'public route, no credential needed',
    configYaml: POLICY,
    request: requestHeaders(envoyHeaders('GET', '/healthz'), {
      attributes: attributes('spiffe://other.org/ns/x/sa/y'),
    }),
    expect: 'allow',
  },
  {
    name: 'spiffe-allow',
    description: 'SPIFFE prefix rule matches the peer; x-spiffe-id set',
    configYaml: POLICY,
    request: requestHeaders(envoyHeaders('POST', '/api/sessions/abc123/steps?x=1'), {
      attributes: attributes('spiffe://example.org/ns/prod/sa/api'),
    }),
    expect: 'allow',
  },
  {
    name: 'spiffe-deny',
    description: 'peer from another trust domain: 403 ImmediateResponse',
    configYaml: POLICY,
    request: requestHeaders(envoyHeaders('GET', '/api/things/1'), {
      attributes: attributes('spiffe://evil.org/ns/prod/sa/api'),
    }),
    expect: 'deny',
  },
]

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name)
  if (s === undefined) throw new Error(`unknown scenario ${name}`)
  return s
}
