import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ChildServer, startChildServer } from '../test/helpers/child-server.js'
import { requestHeaders } from '../test/helpers/extproc-client.js'
import { grpcFrame } from './frame.js'
import { GcTrace, type GcWindow } from './gc-trace.js'
import { cycle, type LoadResult, runLoad } from './load.js'
import type { Expect } from './scenarios.js'

// The soak's server and traffic: the real CLI as a child process (as deployed), driven at a steady
// offered rate by one open-loop generator per traffic class, while its memory is sampled.

export interface SoakOptions {
  readonly seconds: number
  readonly rate: number
  readonly sampleSeconds: number
  readonly keyBits: number
  readonly onSample?: (s: MemorySample, completed: number, errors: number) => void
  /** More node options for the server (`--heapsnapshot-signal=SIGUSR2`). */
  readonly nodeArgs?: readonly string[]
  readonly onStart?: (pid: number) => void
}

export interface MemorySample {
  readonly t: number // seconds since the load started
  readonly rssMB: number // process_resident_memory_bytes
  readonly heapUsedMB: number // nodejs_heap_size_used_bytes
  readonly procRssMB: number // VmRSS from /proc/PID/status (cross-check)
  readonly activeStreams: number // extproc_authz_active_streams: a backlog explains a bump
  readonly openFds: number // entries in /proc/PID/fd: sockets left behind show up here
  // The window since the previous sample (prom-client resets its event-loop histogram per scrape;
  // the soak is the only scraper; GC pauses from the server's --trace-gc output):
  readonly loopP99Ms: number // nodejs_eventloop_lag_p99_seconds
  readonly loopMaxMs: number // nodejs_eventloop_lag_max_seconds
  readonly gc: GcWindow
}

export interface ClassResult extends LoadResult {
  readonly name: string
  readonly expect: Expect
  readonly share: number
}

export interface SoakRun {
  readonly samples: MemorySample[]
  readonly classes: ClassResult[]
  /** The server's exit code after SIGTERM; anything but 0, or an earlier exit, is a crash. */
  readonly exitCode: number | null
  readonly crashedDuringLoad: boolean
  readonly cacheMaxEntries: number
  /** Every GC pause of the run (the server's --trace-gc). */
  readonly gcAll: GcWindow
}

const PEER = 'spiffe://example.org/ns/prod/sa/web'
const CACHE_MAX_ENTRIES = 1000 // small, so the token cache is full (flat) early in the run

function configYaml(keyFile: string): string {
  return `listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
shutdown: { drain_seconds: 0, grace_seconds: 2 }
runner_tokens:
  private_keys: [${keyFile}]
  cache: { max_entries: ${CACHE_MAX_ENTRIES} }
policy:
  rules:
    - { name: health, path: /healthz, public: true }
    - name: sessions
      path: /api/sessions/{session}/**
      any_of:
        - runner_token: { session_param: session }
    - name: api
      path: /api/**
      any_of:
        - spiffe: { trust_domains: [example.org] }
`
}

function frame(path: string, peer?: string, token?: string): Buffer {
  const headers: Record<string, string> = {
    ':method': 'GET',
    ':path': path,
    ':authority': 'api.example.org',
  }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const attributes =
    peer === undefined ? undefined : { 'connection.uri_san_peer_certificate': peer }
  return grpcFrame(requestHeaders(headers, attributes === undefined ? {} : { attributes }))
}

async function sample(server: ChildServer, t: number, gc: GcTrace): Promise<MemorySample> {
  const text = await fetch(`http://127.0.0.1:${server.adminPort}/metrics`).then((r) => r.text())
  const metric = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text)?.[1])
  let procRss = Number.NaN
  let openFds = Number.NaN
  try {
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8')
    procRss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024
    openFds = readdirSync(`/proc/${server.pid}/fd`).length
  } catch {
    // not Linux: the metric alone
  }
  const mb = (b: number) => Math.round((b / 1048576) * 10) / 10
  const ms = (s: number) => Math.round(s * 1e4) / 10
  return {
    t: Math.round(t),
    rssMB: mb(metric('process_resident_memory_bytes')),
    heapUsedMB: mb(metric('nodejs_heap_size_used_bytes')),
    procRssMB: Math.round(procRss * 10) / 10,
    activeStreams: metric('extproc_authz_active_streams'),
    openFds,
    loopP99Ms: ms(metric('nodejs_eventloop_lag_p99_seconds')),
    loopMaxMs: ms(metric('nodejs_eventloop_lag_max_seconds')),
    gc: gc.take(),
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakRun> {
  const dir = mkdtempSync(join(tmpdir(), 'extproc-soak-'))
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: o.keyBits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  const mint = (session: string) =>
    publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(session, 'utf8'),
    ).toString('base64')
  writeFileSync(join(dir, 'runner.pem'), privateKey, { mode: 0o600 })
  writeFileSync(join(dir, 'config.yaml'), configYaml(join(dir, 'runner.pem')))
  const gc = new GcTrace()
  const server = await startChildServer(join(dir, 'config.yaml'), {
    nodeArgs: ['--trace-gc', ...(o.nodeArgs ?? [])],
    onOutput: (chunk) => gc.push(chunk),
  })
  o.onStart?.(server.pid)

  // 20 runners re-sending their tokens (cache hits after the first), a trickle of new tokens
  // (each an RSA decryption) and of garbage ones, SPIFFE traffic allowed and denied.
  const cachedFrames = Array.from({ length: 20 }, (_, i) =>
    frame(`/api/sessions/run-${i}/logs`, undefined, mint(`run-${i}`)),
  )
  let u = 0
  const classes = [
    { name: 'spiffe-allowed', share: 0.35, expect: 'allow', frame: frame('/api/items', PEER) },
    {
      name: 'token-cached',
      share: 0.35,
      expect: 'allow',
      nextFrame: cycle(cachedFrames),
    },
    {
      name: 'spiffe-denied',
      share: 0.15,
      expect: 'deny',
      frame: frame('/api/items', 'spiffe://evil.example/x'),
    },
    { name: 'no-rule', share: 0.12, expect: 'deny', frame: frame('/internal/x', PEER) },
    {
      name: 'token-unique',
      share: 0.02,
      expect: 'allow',
      nextFrame: () => frame(`/api/sessions/new-${++u}/logs`, undefined, mint(`new-${u}`)),
    },
    {
      name: 'token-garbage',
      share: 0.01,
      expect: 'deny',
      nextFrame: () =>
        frame('/api/sessions/run-0/logs', undefined, randomBytes(512).toString('base64')),
    },
  ] as const

  const samples: MemorySample[] = []
  const live = { completed: 0, errors: 0 }
  const t0 = performance.now()
  let crashed = false
  const sampler = setInterval(() => {
    if (server.exit() !== undefined) crashed = true
    sample(server, (performance.now() - t0) / 1000, gc).then(
      (s) => {
        samples.push(s)
        o.onSample?.(s, live.completed, live.errors)
      },
      () => {
        crashed = crashed || server.exit() !== undefined
      },
    )
  }, o.sampleSeconds * 1000)
  const results = await Promise.all(
    classes.map(async (k) => {
      const r = await runLoad({
        url: `http://127.0.0.1:${server.port}`,
        frame: 'frame' in k ? k.frame : k.nextFrame(),
        ...('nextFrame' in k ? { nextFrame: k.nextFrame } : {}),
        expect: k.expect,
        connections: 1,
        // Room for a stall of seconds on a shared machine: a stream not sent is an error.
        concurrency: 1024,
        rate: Math.max(1, o.rate * k.share),
        durationS: o.seconds,
        warmupS: 0,
        onProgress: (p) => {
          live.completed += p.rate - p.errors
          live.errors += p.errors
        },
      })
      return { ...r, name: k.name, expect: k.expect, share: k.share }
    }),
  )
  clearInterval(sampler)
  await sample(server, (performance.now() - t0) / 1000, gc).then(
    (s) => samples.push(s),
    () => {
      crashed = true
    },
  )
  crashed = crashed || server.exit() !== undefined
  const exitCode = await server.stop()
  rmSync(dir, { recursive: true, force: true })
  return {
    samples,
    classes: results,
    exitCode,
    crashedDuringLoad: crashed,
    cacheMaxEntries: CACHE_MAX_ENTRIES,
    gcAll: gc.all,
  }
}
