import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRunnerToken } from '../src/tokens/runner.js'
import { requestHeaders } from '../test/helpers/extproc-client.js'
import { grpcFrame } from './frame.js'

// Runner-token scenarios need keys made at run time, so they are built here rather than listed
// as fixed frames in scenarios.ts. Each token is a raw RSA-OAEP-SHA256 token for session
// s-<i>, sent on /api/sessions/s-<i>/steps, which the policy requires to match.

export type RsaBits = 2048 | 4096

export interface RunnerKeys {
  readonly dir: string
  readonly privateFile: Record<RsaBits, string>
  readonly publicKey: Record<RsaBits, KeyObject>
}

/** Fresh RSA-2048 and RSA-4096 keypairs in a temporary directory (PEM, PKCS#8). */
export function makeRunnerKeys(): RunnerKeys {
  const dir = mkdtempSync(join(tmpdir(), 'extproc-bench-keys-'))
  const privateFile = {} as Record<RsaBits, string>
  const publicKey = {} as Record<RsaBits, KeyObject>
  for (const bits of [2048, 4096] as const) {
    const pair = generateKeyPairSync('rsa', { modulusLength: bits })
    privateFile[bits] = join(dir, `rsa${bits}.pem`)
    writeFileSync(privateFile[bits], pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    })
    publicKey[bits] = pair.publicKey
  }
  return { dir, privateFile, publicKey }
}

/** The config a runner-token target serves: production defaults (cache of 100,000 entries). */
export function runnerConfigYaml(keyFile: string): string {
  return `
runner_tokens:
  private_keys: [${JSON.stringify(keyFile)}]
policy:
  rules:
    - name: runner-session
      methods: [GET, POST]
      path: /api/sessions/{session}/**
      any_of:
        - runner_token: { session_param: session }
`
}

/** Writes the config for one key size and returns its path. */
export function writeRunnerConfig(keys: RunnerKeys, bits: RsaBits): string {
  const file = join(keys.dir, `config-rsa${bits}.yaml`)
  writeFileSync(file, runnerConfigYaml(keys.privateFile[bits]))
  return file
}

function runnerRequestFrame(publicKey: KeyObject, session: string): Buffer {
  const token = createRunnerToken(publicKey, session)
  return grpcFrame(
    requestHeaders(
      [
        [':method', 'POST'],
        [':scheme', 'https'],
        [':authority', 'api.example.org'],
        [':path', `/api/sessions/${session}/steps`],
        ['user-agent', 'runner/1.0'],
        ['accept', 'application/json'],
        ['authorization', `Bearer ${token}`],
        ['x-forwarded-proto', 'https'],
        ['x-request-id', '2f1e7c8a-61b4-4d6e-9a51-0c1f3e5d7b92'],
        ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
      ],
      { attributes: { 'connection.mtls': false, 'source.address': '10.1.2.3:53412' } },
    ),
  )
}

/**
 * `count` frames with distinct tokens (distinct sessions), made before the run: h2load sends
 * one frame for every stream, so unique tokens need our own generator cycling through a pool.
 * Encryption is a public-key operation (tens of microseconds), so a pool of thousands is cheap.
 */
export function uniqueTokenFrames(publicKey: KeyObject, count: number, prefix: string): Buffer[] {
  return Array.from({ length: count }, (_, i) => runnerRequestFrame(publicKey, `${prefix}-${i}`))
}

/** One frame whose token every stream repeats: decrypted once, then served from the cache. */
export function cachedTokenFrame(publicKey: KeyObject): Buffer {
  return runnerRequestFrame(publicKey, 'cached-0')
}
