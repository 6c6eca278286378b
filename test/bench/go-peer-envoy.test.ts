import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { benchProcessorConfig, EnvoyBench, goLoad, withoutExtProc } from '../../bench/envoy-lab.js'
import { buildGoPeers, type GoPeers } from '../../bench/go-peers.js'
import { REPO_ROOT } from '../../lab/local/lab.js'
import { envoyBin, envoySkip } from '../helpers/envoy.js'
import { labRequest } from '../lab/https-client.js'

// The Envoy benchmark's moving parts, once each: the Go SPIFFE peer behind the shipped
// envoy.yaml decides like extproc-authz's spiffe-allow (allow + x-spiffe-id, 403 otherwise),
// and the Go load generator gets answers through Envoy's mTLS listener. No timing is asserted.

type HttpFilters = Array<{ name: string }>
function httpFilters(yaml: string): HttpFilters {
  const doc = parse(yaml) as {
    static_resources: {
      listeners: Array<{
        filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: HttpFilters } }> }>
      }>
    }
  }
  return doc.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config
    .http_filters as HttpFilters
}

describe('bench: Envoy without ext_proc (generated variant)', () => {
  it('removes the ext_proc filter and keeps the router', () => {
    const shipped = readFileSync(join(REPO_ROOT, 'envoy', 'envoy.yaml'), 'utf8')
    assert.deepEqual(
      httpFilters(shipped).map((f) => f.name),
      ['envoy.filters.http.ext_proc', 'envoy.filters.http.router'],
    )
    assert.deepEqual(
      httpFilters(withoutExtProc(shipped)).map((f) => f.name),
      ['envoy.filters.http.router'],
    )
    assert.throws(() => withoutExtProc(withoutExtProc(shipped)), /no ext_proc filter/)
  })

  it("makes the api rule the Go peer's prefix check", () => {
    const doc = parse(benchProcessorConfig()) as {
      policy: { rules: Array<{ name: string; any_of?: unknown }> }
    }
    assert.deepEqual(doc.policy.rules.find((r) => r.name === 'api')?.any_of, [
      { spiffe: { prefixes: ['spiffe://example.org/ns/ci'] } },
    ])
  })
})

const built = envoySkip === false ? buildGoPeers() : envoySkip
const skip = envoySkip !== false ? envoySkip : typeof built === 'string' ? built : false

describe('bench: the Go SPIFFE peer behind the pinned Envoy', { skip }, () => {
  let dir = ''
  let bench: EnvoyBench
  const go = built as GoPeers
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-go-peer-'))
    bench = await EnvoyBench.start(
      'go-spiffe',
      { kind: 'go', mode: 'spiffe', goPeer: go.peer },
      envoyBin(),
      dir,
    )
  })
  after(async () => {
    await bench?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('allows a client SVID under the prefix and sets x-spiffe-id, stripping authorization', async () => {
    const lab = bench.lab
    const r = await labRequest({
      port: bench.port,
      ca: lab.file('bundle.pem'),
      svid: { cert: lab.file('client.pem'), key: lab.file('client-key.pem') },
      path: '/api/hello',
      bearer: 'not-a-token',
    })
    assert.equal(r.status, 200)
    const echoed = r.json()
    assert.equal(echoed.spiffe_id, 'spiffe://example.org/ns/ci/sa/runner')
    assert.equal(echoed.authorization_present, false)
    const line = await lab.accessLogLine((e) => e.path === '/api/hello')
    assert.match(String(line.ext_proc_us), /^\d+$/)
  })

  it('denies an SVID outside the prefix with 403 and the peer details', async () => {
    const lab = bench.lab
    const before = lab.upstream.count()
    const r = await labRequest({
      port: bench.port,
      ca: lab.file('bundle.pem'),
      svid: { cert: lab.file('processor.pem'), key: lab.file('processor-key.pem') },
      path: '/api/other',
    })
    assert.equal(r.status, 403)
    const line = await lab.accessLogLine((e) => e.path === '/api/other')
    assert.equal(line.details, 'go_peer_spiffe_id_not_allowed')
    assert.equal(lab.upstream.count(), before)
  })

  it('the Go load generator gets 200s through the mTLS listener, and CPU is read per process', async () => {
    const cpu0 = bench.cpu()
    const { result } = await goLoad({
      loadgen: go.loadgen,
      bench,
      path: '/api/hello',
      rate: 50,
      durationS: 1,
      warmupS: 0,
    })
    assert.equal(result.errors, 0)
    assert.ok((result.statuses['200'] ?? 0) > 0)
    assert.ok(result.p99 >= result.p50)
    const cpu1 = bench.cpu()
    assert.ok(cpu1.envoyS >= cpu0.envoyS && cpu1.processorS >= cpu0.processorS)
  })
})
