import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { parse } from 'yaml'
import { startAdminServer } from '../../src/observe/admin-server.js'
import { HealthState } from '../../src/observe/health.js'
import {
  checkEnvoyAgainstManifests,
  checkManifests,
  envoyView,
  type Manifests,
  readManifests,
} from '../helpers/check-manifests.js'

// The manifests are in the source tree (not compiled): dist/test/unit -> deploy/kubernetes.
const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url))
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
const load = (): Manifests => readManifests(DIR, FILES)
// The Envoy configs for this deployment: SPIRE agent SDS and path-based SDS.
const ENVOY_FILES = ['envoy-sds.yaml', 'sds-path/envoy-sds-path.yaml']
const envoyConfig = (f: string) =>
  parse(readFileSync(fileURLToPath(new URL(`../../../envoy/${f}`, import.meta.url)), 'utf8'))

describe('deploy/kubernetes agrees with the config it ships', () => {
  test('no drift: ports, probes, mounted files, drain, hardening, Service', () => {
    const { problems, config } = checkManifests(load())
    assert.deepEqual(problems, [])
    // The walk found the files this config reads (else the mount check checked nothing).
    assert.ok(config?.runner_tokens?.private_keys.length)
    assert.ok(config?.tls?.workload_api?.socket)
  })

  test('the probe paths are what the real admin server answers: alive, and ready unless draining', async () => {
    const { probes } = checkManifests(load())
    assert.ok(probes)
    const health = new HealthState()
    const admin = await startAdminServer('127.0.0.1:0', new Registry(), health)
    try {
      const get = async (path: string) =>
        (await fetch(`http://127.0.0.1:${admin.port}${path}`)).status
      assert.equal(await get(probes.liveness), 200)
      assert.equal(await get(probes.readiness), 503, 'not ready before loading')
      health.setServing(true)
      assert.equal(await get(probes.readiness), 200)
      health.setServing(false) // draining
      assert.equal(await get(probes.readiness), 503)
      assert.equal(await get(probes.liveness), 200, 'still alive while draining')
    } finally {
      await admin.close()
    }
  })

  test("Envoy's SDS configs reach the Service by FQDN and pin the SPIFFE ID SPIRE issues its pods", () => {
    const m = load()
    for (const f of ENVOY_FILES) {
      const view = envoyView(f, envoyConfig(f))
      assert.deepEqual(checkEnvoyAgainstManifests(m, view), [])
      assert.equal(view.processorAddress, 'extproc-authz.extproc-authz.svc.cluster.local')
      assert.equal(view.processorSan, 'spiffe://example.org/ns/extproc-authz/sa/extproc-authz')
      assert.equal(view.envoySvid, 'spiffe://example.org/ns/gateway/sa/envoy')
    }
    // One convention for the agent's socket: the SPIFFE CSI driver's mount, in both pods.
    const spire = envoyConfig('envoy-sds.yaml').static_resources.clusters.find(
      (c: { name: string }) => c.name === 'spire_agent',
    )
    const { config } = checkManifests(m)
    assert.equal(
      `unix://${spire.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path}`,
      config?.tls?.workload_api?.socket,
    )
  })

  // Each disagreement between Envoy and the manifests must be caught.
  const envoyDrifts: Array<[string, (m: Manifests) => void, RegExp]> = [
    [
      'namespace',
      (m) => {
        for (const o of m.values()) o.metadata.namespace = 'authz'
      },
      /not the Service FQDN extproc-authz\.authz\.svc.*SPIRE issues the pods spiffe:\/\/example\.org\/ns\/authz\//s,
    ],
    [
      'one manifest in another namespace',
      (m) => {
        m.get('ConfigMap').metadata.namespace = 'default'
      },
      /one namespace/,
    ],
    [
      'Service name',
      (m) => {
        m.get('Service').metadata.name = 'authz'
      },
      /not the Service FQDN authz\.extproc-authz/,
    ],
    [
      'a ClusterIP Service',
      (m) => {
        m.get('Service').spec.clusterIP = undefined
      },
      /not headless/,
    ],
    [
      'service account',
      (m) => {
        m.get('Deployment').spec.template.spec.serviceAccountName = 'default'
      },
      /SPIRE issues the pods spiffe:\/\/example\.org\/ns\/extproc-authz\/sa\/default/,
    ],
    [
      "allowed_peers without Envoy's SVID",
      (m) =>
        editConfig(m, (t) =>
          t.replace('spiffe://example.org/ns/gateway/sa/envoy', 'spiffe://example.org/envoy'),
        ),
      /do not admit spiffe:\/\/example\.org\/ns\/gateway\/sa\/envoy.*spiffe:\/\/example\.org\/envoy is not a SPIRE/s,
    ],
  ]
  for (const [name, mutate, expected] of envoyDrifts) {
    test(`Envoy drift is caught: ${name}`, () => {
      const m = load()
      mutate(m)
      const problems = checkEnvoyAgainstManifests(
        m,
        envoyView('envoy-sds.yaml', envoyConfig('envoy-sds.yaml')),
      )
      assert.match(problems.join('\n'), expected)
    })
  }

  test('kustomization lists every manifest except the Secret template', () => {
    const k = parse(readFileSync(`${DIR}kustomization.yaml`, 'utf8')) as { resources: string[] }
    for (const r of k.resources) assert.ok(existsSync(`${DIR}${r}`), r)
    assert.deepEqual([...k.resources].sort(), FILES.filter((f) => f !== 'secret.yaml').sort())
  })

  // Each drift must be caught: the check above would be worthless if these passed.
  const drifts: Array<[string, (m: Manifests) => void, RegExp]> = [
    [
      'listen port',
      (m) => editConfig(m, (t) => t.replace('0.0.0.0:50051', '0.0.0.0:50052')),
      /grpc != listen|targets the gRPC/,
    ],
    ['admin port', (m) => editConfig(m, (t) => t.replace('0.0.0.0:9901', '0.0.0.0:9902')), /admin/],
    [
      'loopback admin',
      (m) => editConfig(m, (t) => t.replace('0.0.0.0:9901', '127.0.0.1:9901')),
      /loopback/,
    ],
    [
      'key path outside the mount',
      (m) =>
        editConfig(m, (t) =>
          t.replace('/etc/extproc-authz/runner-keys/private.pem', '/keys/private.pem'),
        ),
      /in no volume mount/,
    ],
    [
      'key name not in the Secret',
      (m) => editConfig(m, (t) => t.replace('runner-keys/private.pem', 'runner-keys/current.pem')),
      /Secret has no current.pem/,
    ],
    [
      'socket path',
      (m) => editConfig(m, (t) => t.replace('unix:///spiffe-workload-api/', 'unix:///run/spire/')),
      /no volume mount/,
    ],
    [
      'drain longer than the grace period',
      (m) => editConfig(m, (t) => t.replace('drain_seconds: 15', 'drain_seconds: 25')),
      /terminationGracePeriodSeconds/,
    ],
    [
      'readiness on /healthz',
      (m) => {
        container(m).readinessProbe.httpGet.path = '/healthz'
      },
      /readiness/,
    ],
    [
      'config mounted with subPath',
      (m) => {
        container(m).volumeMounts[0].subPath = 'config.yaml'
      },
      /subPath/,
    ],
    [
      'config path',
      (m) => {
        container(m).args[2] = '/etc/config.yaml'
      },
      /ConfigMap/,
    ],
    [
      'writable root',
      (m) => {
        container(m).securityContext.readOnlyRootFilesystem = false
      },
      /writable/,
    ],
    [
      'root user',
      (m) => {
        m.get('Deployment').spec.template.spec.securityContext.runAsNonRoot = false
      },
      /runAsNonRoot/,
    ],
    [
      'one replica',
      (m) => {
        m.get('Deployment').spec.replicas = 1
      },
      /replicas/,
    ],
    [
      'plaintext appProtocol',
      (m) => {
        m.get('Service').spec.ports[0].appProtocol = 'kubernetes.io/h2c'
      },
      /appProtocol/,
    ],
  ]
  for (const [name, mutate, expected] of drifts) {
    test(`drift is caught: ${name}`, () => {
      const m = load()
      mutate(m)
      const { problems } = checkManifests(m)
      assert.ok(
        problems.some((p) => expected.test(p)),
        `problems: ${JSON.stringify(problems)}`,
      )
    })
  }
})

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain data
function container(m: Manifests): any {
  return m.get('Deployment').spec.template.spec.containers[0]
}

function editConfig(m: Manifests, edit: (text: string) => string): void {
  const data = m.get('ConfigMap').data as Record<string, string>
  const before = data['config.yaml'] as string
  data['config.yaml'] = edit(before)
  assert.notEqual(data['config.yaml'], before, 'the edit applied')
}
