import { execFile } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PROCESS_PATH } from './load.js'
import { pinned } from './target-process.js'

export interface H2loadResult {
  readonly rate: number
  readonly succeeded: number
  readonly failed: number
  /** Streams that ended in a stream or connection error. */
  readonly errored: number
  /** Responses with an HTTP 2xx status (a gRPC answer's :status is 200, whatever its grpc-status). */
  readonly status2xx: number
  readonly command: string
}

/**
 * h2load (nghttp2, C) sending the same gRPC frame per stream: the reference for what a client
 * that costs almost nothing measures. It checks HTTP status only, not grpc-status.
 */
export async function runH2load(o: {
  port: number
  frame: Buffer
  connections: number
  concurrency: number
  /** A timed run (`-D`, after `--warm-up-time`)... */
  durationS?: number
  warmupS?: number
  /** ...or a fixed number of streams (`-n`). */
  requests?: number
  cpus?: string
}): Promise<H2loadResult> {
  // Per port: bench/ab.ts runs two at once.
  const file = join(tmpdir(), `extproc-bench-frame-${process.pid}-${o.port}.bin`)
  writeFileSync(file, o.frame)
  const args = [
    '-c',
    String(o.connections),
    '-m',
    String(o.concurrency),
    ...(o.requests === undefined
      ? ['-D', String(o.durationS ?? 5), '--warm-up-time', String(o.warmupS ?? 0)]
      : ['-n', String(o.requests)]),
    '--data',
    file,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `http://127.0.0.1:${o.port}${PROCESS_PATH}`,
  ]
  const [cmd, full] = pinned(o.cpus, 'h2load', args)
  const { stdout } = await promisify(execFile)(cmd, full, {
    timeout: ((o.durationS ?? 0) + 30) * 1000,
  }).finally(() => rmSync(file, { force: true }))
  const rate = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)
  const req =
    /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      stdout,
    )
  const codes = /status codes: (\d+) 2xx/.exec(stdout)
  if (rate === null || req === null || codes === null) {
    throw new Error(`cannot parse h2load output:\n${stdout}`)
  }
  return {
    rate: Math.round(Number(rate[1])),
    succeeded: Number(req[1]),
    failed: Number(req[2]),
    errored: Number(req[3]),
    status2xx: Number(codes[1]),
    command: `h2load ${args.join(' ').replace(file, 'frame.bin')}`,
  }
}
