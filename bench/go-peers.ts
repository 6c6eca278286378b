import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pinned, type RunningTarget } from './target-process.js'

// The Go peers (bench/peers/go: a grpc-go ext_proc server and an mTLS HTTP/2 load generator),
// built from the pinned go.mod/go.sum into bench/.bin (git-ignored). Without Go the Envoy
// benchmark has no peer and no mTLS client, so it says so and is skipped.

const PEERS = fileURLToPath(new URL('../../bench/peers/go', import.meta.url))
export const GO_BIN_DIR = fileURLToPath(new URL('../../bench/.bin', import.meta.url))

export interface GoPeers {
  /** extproc-peer: -mode noop | spiffe. */
  readonly peer: string
  readonly loadgen: string
  /** `go version` output. */
  readonly go: string
}

/** Builds both binaries, or returns why not (no Go, or the build failed) as a string. */
export function buildGoPeers(outDir = GO_BIN_DIR): GoPeers | string {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (version.error !== undefined || version.status !== 0) {
    return 'Go is not installed (no `go` on PATH): the Go peers and the mTLS load generator need it'
  }
  mkdirSync(outDir, { recursive: true })
  // -mod=readonly: go.sum is the pin; a build that would change it fails instead.
  const build = spawnSync('go', ['build', '-mod=readonly', '-o', `${outDir}/`, './cmd/...'], {
    cwd: PEERS,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
  })
  if (build.status !== 0) return `go build in bench/peers/go failed:\n${build.stderr}`
  return {
    peer: join(outDir, 'extproc-peer'),
    loadgen: join(outDir, 'loadgen'),
    go: version.stdout.trim(),
  }
}

/**
 * The Go peer as a direct h2load target (plaintext h2c, like the other no-op targets), pinned
 * to `cpus`: `-mode spiffe` checks the prefix of the spiffe-allow scenario's peer.
 */
export function startGoTarget(
  peer: string,
  mode: 'noop' | 'spiffe',
  cpus: string,
): Promise<RunningTarget> {
  const [cmd, args] = pinned(cpus, peer, [
    '-mode',
    mode,
    '-listen',
    '127.0.0.1:0',
    '-prefix',
    'spiffe://example.org/ns/prod',
  ])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`go peer did not start in 10 s`)), 10_000)
    child.on('exit', (code) => reject(new Error(`go peer exited with ${code}`)))
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /"port":(\d+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      resolve({
        port: Number(m[1]),
        pid: child.pid ?? -1,
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done())
            child.kill('SIGTERM')
          }),
      })
    })
  })
}
