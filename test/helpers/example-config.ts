import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateCa, type Issued, issueLeaf } from '../../src/pki/generate.js'
import { FakeAgent } from './fake-workload-api.js'

export const EXAMPLE_CONFIG = fileURLToPath(
  new URL('../../../examples/config.yaml', import.meta.url),
)
export const EXAMPLE_CASES = fileURLToPath(
  new URL('../../../examples/policy-cases.yaml', import.meta.url),
)
export const PROCESSOR_ID = 'spiffe://example.org/ns/extproc-authz/sa/extproc-authz'
/** The peer examples/config.yaml admits (tls.allowed_peers). */
export const ENVOY_ID = 'spiffe://example.org/ns/gateway/sa/envoy'
/** A session the example's live-sessions file lists. */
export const LIVE_SESSION = 's-7'

export interface ExampleSetup {
  readonly dir: string
  /** examples/config.yaml with its paths moved under `dir` and both listeners on port 0. */
  readonly config: string
  readonly publicKeyFile: string
  readonly ca: Issued
  /** An X.509-SVID for ENVOY_ID, the channel peer the example admits. */
  readonly envoy: Issued
  readonly agent: FakeAgent
  close(): void
}

/**
 * Makes every file examples/config.yaml reads, in a temporary directory: the runner key, the
 * live-sessions file and a SPIFFE Workload API (a fake agent on a unix socket serving the
 * processor's SVID). The config text is the shipped one with only its paths and ports moved, so
 * a test serving it serves the example itself; a path the example no longer has fails here.
 */
export async function materializeExample(): Promise<ExampleSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'example-config-'))
  const socket = join(dir, 'agent.sock')
  let text = readFileSync(EXAMPLE_CONFIG, 'utf8')
  for (const [from, to] of [
    ['listen: 0.0.0.0:50051', 'listen: 127.0.0.1:0'],
    ['listen: 127.0.0.1:9901', 'listen: 127.0.0.1:0'],
    ['unix:///run/spire/agent/public/api.sock', `unix://${socket}`],
    ['/etc/extproc-authz/', `${dir}/etc/`],
  ] as const) {
    if (!text.includes(from)) throw new Error(`examples/config.yaml no longer has ${from}`)
    text = text.replaceAll(from, to)
  }
  mkdirSync(join(dir, 'etc/keys'), { recursive: true })
  mkdirSync(join(dir, 'etc/sessions'), { recursive: true })
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(
    join(dir, 'etc/keys/private.pem'),
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
    {
      mode: 0o600,
    },
  )
  const publicKeyFile = join(dir, 'etc/keys/public.pem')
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }))
  writeFileSync(join(dir, 'etc/sessions/live'), `# live sessions\n${LIVE_SESSION}\n`)
  const config = join(dir, 'config.yaml')
  writeFileSync(config, text)

  const ca = await generateCa('example.org CA')
  const envoy = await issueLeaf(ca, { uris: [ENVOY_ID] })
  const agent = new FakeAgent()
  agent.publish(ca, await issueLeaf(ca, { uris: [PROCESSOR_ID], dns: ['localhost'] }), PROCESSOR_ID)
  await agent.listen(socket)
  return {
    dir,
    config,
    publicKeyFile,
    ca,
    envoy,
    agent,
    close() {
      agent.server.forceShutdown()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
