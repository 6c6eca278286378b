import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { validate as lintDockerfile } from 'dockerfile-utils'
import { loadConfigFile } from '../../src/config/load-config.js'
import type { Config } from '../../src/config/schema.js'
import { parseListenAddress } from '../../src/shared/listen-address.js'
import { type EnvoyBootstrap, envoyLab } from '../helpers/lab-envoy.js'
import {
  type ComposeFile,
  dnsSans,
  dockerfileArgs,
  hostPath,
  interpolateDefaults,
  mounts,
  playCertsService,
  REPO_ROOT,
  readCompose,
  readRepoYaml,
  runtimeStage,
  service,
  uriSans,
} from '../helpers/lab-files.js'
import { LAB_IDS } from '../lab/cases.js'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

// The lab has no Docker here, so what can be checked without it is checked: the compose file,
// the Envoy config it runs and the processor config agree on names, ports, files and identities.

/** The Compose Specification schema, as shipped by the dclint package (no compose CLI here). */
function composeSchema(): object {
  // Not in the package's exports map: read it from where npm installs it.
  const file = join(REPO_ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json')
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  delete schema.$schema // draft-07 named by an address ajv does not register; it is draft-07
  return schema
}

/** The port of a (validated) listen address, read by the one listen parser. */
function port(listen: string): number {
  return parseListenAddress(listen)?.port ?? Number.NaN
}

describe('docker-compose lab: files agree', () => {
  let tmp: string
  let compose: ComposeFile
  let volumes: Record<string, string>
  let envoy: EnvoyBootstrap
  let processor: Config
  const labConfigTarget = () => {
    const m = mounts(service(compose, 'extproc-authz')).find((x) => x.source.endsWith('.yaml'))
    assert.ok(m, 'extproc-authz mounts a config file')
    return m
  }

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lab-consistency-'))
    compose = readCompose()
    volumes = playCertsService(compose, tmp)
    envoy = envoyLab(compose)
    processor = await loadConfigFile(join(REPO_ROOT, labConfigTarget().source))
  })
  after(() => rm(tmp, { recursive: true, force: true }))

  test('docker-compose.yml is valid under the Compose Specification schema', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(composeSchema())
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2))
    const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> }
    ;(broken.services.envoy as Record<string, unknown>).depends_on = {
      upstream: { condition: 'service_ready' },
    }
    assert.equal(validate(broken), false, 'the schema check can fail')
  })

  test('the certs service writes the PKI and runner key once; a second run changes nothing', () => {
    const files = ['certs/bundle.pem', 'certs/envoy-key.pem', 'ca/ca-key.pem', 'keys/private.pem']
    const read = () => files.map((f) => readFileSync(join(tmp, f), 'utf8'))
    const first = read()
    assert.deepEqual(Object.keys(volumes).sort(), ['ca', 'certs', 'keys'])
    playCertsService(compose, tmp)
    assert.deepEqual(read(), first, 'kept: a running Envoy keeps trusting the processor')
  })

  test('the certs service re-issues leaves that expire within its margin, from the kept CA', async () => {
    // A lab whose leaves expire in 2 days (left up for weeks, or restarted much later).
    const old = await mkdtemp(join(tmpdir(), 'lab-consistency-old-'))
    try {
      const r = spawnSync(
        process.execPath,
        [
          MAIN,
          'certs',
          'generate',
          '--out',
          join(old, 'certs'),
          '--days',
          '2',
          '--ca-key',
          join(old, 'ca', 'ca-key.pem'),
        ],
        { encoding: 'utf8', timeout: 60_000 },
      )
      assert.equal(r.status, 0, r.stderr)
      const bundle = readFileSync(join(old, 'certs', 'bundle.pem'), 'utf8')
      const expiring = new X509Certificate(readFileSync(join(old, 'certs', 'envoy.pem')))
      playCertsService(compose, old)
      assert.equal(readFileSync(join(old, 'certs', 'bundle.pem'), 'utf8'), bundle, 'same CA')
      for (const leaf of ['envoy', 'processor', 'client']) {
        const c = new X509Certificate(readFileSync(join(old, 'certs', `${leaf}.pem`)))
        assert.ok(Date.parse(c.validTo) - Date.now() > 7 * 86_400_000, `${leaf} until ${c.validTo}`)
        assert.ok(c.verify(new X509Certificate(bundle).publicKey), `${leaf} chains to the bundle`)
      }
      assert.notEqual(
        new X509Certificate(readFileSync(join(old, 'certs', 'envoy.pem'))).serialNumber,
        expiring.serialNumber,
      )
    } finally {
      await rm(old, { recursive: true, force: true })
    }
  })

  test('the CA key is only on the certs service, in a volume the image prepares for it', () => {
    const certsMounts = mounts(service(compose, 'certs')).filter((m) => m.named)
    assert.ok(existsSync(join(volumes.ca ?? '', 'ca-key.pem')), 'the CA key is in the ca volume')
    assert.ok(!existsSync(join(volumes.certs ?? '', 'ca-key.pem')), 'not beside the bundle')
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'certs') continue
      assert.ok(!mounts(s).some((m) => m.source === 'ca'), `${name} never sees the CA key`)
    }
    // An empty named volume takes the ownership of its mount point in the image: each one the
    // (non-root) certs service writes must be created and chowned by the Dockerfile.
    const run = runtimeStage()
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join(' ')
    for (const m of certsMounts) assert.ok(run.includes(m.target), `the image makes ${m.target}`)
  })

  test('services, pinned images, loopback-only ports, start order', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'certs',
      'envoy',
      'extproc-authz',
      'upstream',
    ])
    assert.match(service(compose, 'envoy').image ?? '', /^envoyproxy\/envoy:v\d+\.\d+\.\d+$/)
    for (const [name, s] of Object.entries(compose.services)) {
      for (const p of s.ports ?? []) {
        assert.match(interpolateDefaults(p), /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${p}`)
      }
    }
    assert.equal(service(compose, 'extproc-authz').ports, undefined, 'the processor is internal')
    const dep = (s: string, on: string) => service(compose, s).depends_on?.[on]?.condition
    assert.equal(dep('extproc-authz', 'certs'), 'service_completed_successfully')
    assert.equal(dep('envoy', 'extproc-authz'), 'service_healthy')
    assert.equal(dep('envoy', 'upstream'), 'service_healthy')
    assert.ok(service(compose, 'upstream').healthcheck?.test, 'upstream has its own healthcheck')
    assert.equal(labConfigTarget().readOnly, true)
  })

  test('the ext_proc cluster is the processor service at its listen port, over HTTP/2', () => {
    const filter = envoy.extProc()
    assert.equal(filter.failure_mode_allow, false)
    assert.equal(filter.processing_mode.response_header_mode, 'SKIP')
    const cluster = envoy.cluster(filter.grpc_service.envoy_grpc.cluster_name)
    assert.deepEqual(envoy.endpoint(cluster), {
      address: 'extproc-authz',
      port_value: port(processor.listen),
    })
    assert.ok(compose.services[envoy.endpoint(cluster).address], 'a compose service of that name')
    assert.ok(envoy.isHttp2(cluster), 'gRPC needs HTTP/2')
    assert.ok(cluster.health_checks?.some((h) => h.grpc_health_check !== undefined))
    // A connect failure must end before message_timeout, so a dead processor is a 500 (lab).
    assert.ok(envoy.seconds(cluster.connect_timeout) < envoy.seconds(filter.message_timeout))
    assert.ok(envoy.seconds(filter.message_timeout) >= 0.5)
  })

  test('the upstream cluster is the upstream service at its traffic port', () => {
    const upstream = service(compose, 'upstream')
    const cluster = envoy.cluster(envoy.routeCluster())
    assert.deepEqual(envoy.endpoint(cluster), {
      address: 'upstream',
      port_value: Number(upstream.environment?.UPSTREAM_PORT),
    })
    const control = Number(upstream.environment?.CONTROL_PORT)
    assert.notEqual(control, envoy.endpoint(cluster).port_value, 'the counter is not routed')
    assert.deepEqual(
      (upstream.ports ?? []).map((p) => Number(interpolateDefaults(p).split(':')[2])),
      [control],
    )
  })

  test("Envoy's listener port is the one compose publishes", () => {
    const published = (service(compose, 'envoy').ports ?? []).map((p) =>
      Number(interpolateDefaults(p).split(':')[2]),
    )
    assert.deepEqual(published, [envoy.listenerPort()])
  })

  test('every file Envoy and the processor read is one the certs service writes', () => {
    const envoySvc = service(compose, 'envoy')
    const files = envoy.filenames()
    assert.ok(files.length >= 4, `Envoy reads ${files.join(', ')}`)
    for (const f of files) assert.ok(existsSync(hostPath(envoySvc, f, volumes)), `envoy: ${f}`)
    const proc = service(compose, 'extproc-authz')
    const tls = processor.tls
    assert.ok(tls?.cert_file && tls.key_file && tls.bundles, 'the lab processor serves mTLS')
    const procFiles = [
      tls.cert_file,
      tls.key_file,
      ...Object.values(tls.bundles),
      ...(processor.runner_tokens?.private_keys ?? []),
    ]
    for (const f of procFiles) assert.ok(existsSync(hostPath(proc, f, volumes)), `processor: ${f}`)
    for (const m of [...mounts(envoySvc), ...mounts(proc)].filter((m) => m.named)) {
      assert.equal(m.readOnly, true, `${m.source} is mounted read-only where it is only read`)
    }
    assert.ok(!mounts(envoySvc).some((m) => m.source === 'keys'), 'Envoy never sees the runner key')
  })

  test('the channel admits exactly the SVID Envoy presents; Envoy pins the processor SVID', () => {
    const envoySvc = service(compose, 'envoy')
    const cluster = envoy.cluster(envoy.extProc().grpc_service.envoy_grpc.cluster_name)
    const tls = envoy.upstreamTls(cluster)
    const presented = uriSans(hostPath(envoySvc, tls.certFile, volumes))
    assert.deepEqual(presented, [LAB_IDS.envoy])
    assert.deepEqual(processor.tls?.allowed_peers, presented)
    const proc = service(compose, 'extproc-authz')
    const serving = hostPath(proc, processor.tls?.cert_file ?? '', volumes)
    assert.deepEqual(uriSans(serving), [tls.exactSan])
    assert.ok(dnsSans(serving).includes(tls.sni), `SNI ${tls.sni} is a DNS name of the cert`)
    // The listener's certificate carries localhost, so curl and Node verify it by name.
    assert.ok(dnsSans(hostPath(envoySvc, envoy.listenerCertFile(), volumes)).includes('localhost'))
  })

  test('the Dockerfile has no instruction errors (dockerfile-utils, as in VS Code)', () => {
    const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    const problems = lintDockerfile(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)
    assert.deepEqual(problems, [])
    const broken = text.replace('HEALTHCHECK --interval', 'HEALTHCHECK --intervall')
    assert.equal(lintDockerfile(broken).length, 1, 'the check can fail')
  })

  test('what the Dockerfile and compose take from the repo exists and is in the build context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    const isIgnored = (p: string) =>
      ignored.some((g) => g === p || (g.startsWith('*') && p.endsWith(g.slice(1))))
    const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    const sources = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] as string).split(/\s+/),
    )
    assert.ok(sources.includes('lab') && sources.includes('src'), sources.join(' '))
    for (const src of sources) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src} exists`)
      assert.ok(!isIgnored(src), `COPY ${src} is not excluded by .dockerignore`)
    }
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const m of mounts(svc).filter((x) => !x.named)) {
        assert.ok(existsSync(join(REPO_ROOT, m.source)), `${name} mounts ${m.source}`)
      }
    }
  })

  test('the image: non-root, pinned base, healthcheck on the admin port, CMD reads the mount', () => {
    const stage = runtimeStage()
    const from = stage[0]?.args.replace(/\$\{(\w+)\}/, (_, k: string) => dockerfileArgs()[k] ?? '')
    assert.match(from ?? '', /^node:\d+\.\d+\.\d+-bookworm-slim$/)
    const user = stage.filter((i) => i.op === 'USER').at(-1)?.args
    assert.ok(user && user !== 'root' && user !== '0', `runs as ${user}`)
    const url = /HEALTHCHECK_URL=(\S+)/.exec(
      stage.find((i) => i.args.includes('HEALTHCHECK_URL='))?.args ?? '',
    )?.[1]
    assert.ok(url, 'HEALTHCHECK_URL is set')
    const health = new URL(url)
    assert.equal(health.pathname, '/healthz')
    assert.equal(`${health.hostname}:${health.port}`, processor.admin.listen)
    assert.ok(stage.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('HEALTHCHECK_URL')))
    const cmd = stage.find((i) => i.op === 'CMD')?.args ?? ''
    assert.ok(cmd.includes(`"${labConfigTarget().target}"`), `CMD ${cmd}`)
  })

  test('Envoy runs the shipped envoy.yaml, and every shipped config is mounted for validation', () => {
    assert.equal(envoy.hostFile, join(REPO_ROOT, 'envoy', 'envoy.yaml'))
    const shipped = readRepoYaml('envoy/envoy-xfcc.yaml') as EnvoyBootstrap['raw']
    assert.ok(shipped.static_resources, 'envoy-xfcc.yaml is a bootstrap')
    assert.ok(mounts(service(compose, 'envoy')).some((m) => m.source === './envoy'))
  })
})
