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
  durationS: number
  warmupS: number
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
    '-D',
    String(o.durationS),
    '--warm-up-time',
    String(o.warmupS),
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
    timeout: (o.durationS + 30) * 1000,
  }).finally(() => rmSync(file, { force: true }))
  const rate = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout)
  const req = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(
    stdout,
  )
  if (rate === null || req === null) throw new Error(`cannot parse h2load output:\n${stdout}`)
  return {
    rate: Math.round(Number(rate[1])),
    succeeded: Number(req[1]),
    failed: Number(req[2]),
    command: `h2load ${args.join(' ').replace(file, 'frame.bin')}`,
  }
}
