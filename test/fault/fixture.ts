import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Probe } from './oracle.js'

// The fixed world every fault test runs in: a temp dir with real key, config (and cert) files,
// and the request mix the steady load draws from.

export interface RunnerKeyPair {
  readonly label: string
  readonly publicKey: string
  readonly privateKey: string
}

export function runnerKey(label: string): RunnerKeyPair {
  // 2048 bits: the smallest size the server accepts, and the cheapest to decrypt under load.
  const k = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  return { label, ...k }
}

/** A raw runner token, minted with node:crypto directly (not the project's helper). */
export function mint(key: RunnerKeyPair, session: string): Probe['token'] {
  const value = publicEncrypt(
    { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(session, 'utf8'),
  ).toString('base64')
  return { value, key: key.label, session }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'extproc-fault-'))
}

export const POLICY_V1 = `policy:
  rules:
    - { name: health, path: /healthz, public: true }
    - { name: admin-carve-out, path: /api/admin/**, deny: true }
    - name: sessions
      path: /api/sessions/{session}/**
      any_of:
        - runner_token: { session_param: session }
    - name: api
      path: /api/**
      any_of:
        - spiffe: { trust_domains: [example.org] }
`
export const POLICY_V2 = `${POLICY_V1}    - { name: open, path: /open/**, public: true }
`

export interface ConfigOptions {
  readonly keyFile: string
  readonly maxPendingDecryptions?: number
  /** YAML for the tls section (indented two spaces), when the channel is mTLS. */
  readonly tls?: string
  readonly policy?: string
}

export function configYaml(o: ConfigOptions): string {
  return `listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
shutdown: { drain_seconds: 0, grace_seconds: 1 }
${o.tls === undefined ? '' : `tls:\n${o.tls}`}runner_tokens:
  private_keys: [${o.keyFile}]
  max_pending_decryptions: ${o.maxPendingDecryptions ?? 256}
${o.policy ?? POLICY_V1}`
}

export function writeConfig(dir: string, o: ConfigOptions): string {
  const file = join(dir, 'config.yaml')
  writeFileSync(file, configYaml(o))
  return file
}

const PEER = 'spiffe://example.org/ns/prod/sa/web'
let unique = 0

/**
 * The steady mix: allowed SPIFFE requests, requests the policy denies (foreign peer, no peer,
 * carve-out, no rule), and runner tokens: cached (same token every time), unique (a fresh
 * decryption each time), for the wrong session, garbage, and for each extra key in `keys`.
 */
export function requestMix(current: RunnerKeyPair, others: readonly RunnerKeyPair[]) {
  const cached = mint(current, 'sess-cached')
  const probes: Array<() => Probe> = [
    () => ({ kind: 'spiffe-allowed', path: '/api/items', peer: PEER }),
    () => ({ kind: 'spiffe-foreign', path: '/api/items', peer: 'spiffe://evil.example/x' }),
    () => ({ kind: 'no-peer', path: '/api/items' }),
    () => ({ kind: 'carve-out', path: '/api/admin/users', peer: PEER }),
    () => ({ kind: 'no-rule', path: '/internal/x', peer: PEER }),
    () => ({ kind: 'public', path: '/healthz' }),
    () => ({ kind: 'open', path: '/open/page', peer: PEER }), // public only under POLICY_V2
    () => ({ kind: 'token-cached', path: '/api/sessions/sess-cached/logs', token: cached }),
    () => {
      const s = `u${++unique}`
      return {
        kind: `token-unique-${current.label}`,
        path: `/api/sessions/${s}/logs`,
        token: mint(current, s),
      }
    },
    () => ({ kind: 'token-wrong-session', path: '/api/sessions/other/logs', token: cached }),
    () => ({
      kind: 'token-garbage',
      path: '/api/sessions/sess-cached/logs',
      token: { value: randomBytes(256).toString('base64') },
    }),
    ...others.map((k) => () => {
      const s = `u${++unique}`
      return { kind: `token-unique-${k.label}`, path: `/api/sessions/${s}/logs`, token: mint(k, s) }
    }),
  ]
  let i = 0
  return (): Probe => (probes[i++ % probes.length] as () => Probe)()
}
