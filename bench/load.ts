import * as http2 from 'node:http2'
import { Samples } from './histogram.js'
import type { Expect } from './scenarios.js'

export const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process'

/** Sends a pool of frames in turn (pre-made unique runner tokens); see LoadResult.started. */
export function cycle(frames: readonly Buffer[]): () => Buffer {
  let i = 0
  return () => frames[i++ % frames.length] as Buffer
}

export interface LoadOptions {
  readonly url: string // http://host:port or https://host:port
  readonly frame: Buffer
  /** A frame per stream instead of `frame` (unique tokens that each need a decryption). */
  readonly nextFrame?: () => Buffer
  readonly expect: Expect
  /** HTTP/2 connections (Envoy: one per worker thread). */
  readonly connections: number
  /** Closed loop: streams in flight per connection. Open loop: upper bound per connection. */
  readonly concurrency: number
  /** Offered load in streams/s (open loop); undefined = as fast as possible (closed loop). */
  readonly rate?: number
  readonly durationS: number
  readonly warmupS: number
  readonly tls?: http2.SecureClientSessionOptions
  /** Latencies go here too, so several runs (interleaved segments) make one distribution. */
  readonly samples?: Samples
  /** Called about once per second with the last second's rate and p99 (ms). */
  readonly onProgress?: (p: { second: number; rate: number; errors: number }) => void
}

export interface LoadResult {
  readonly mode: 'max' | 'rate'
  readonly offered: number | null
  readonly connections: number
  readonly concurrency: number
  readonly durationS: number
  readonly completed: number
  /** Streams started, warm-up included: more than a pool's size means the pool wrapped. */
  readonly started: number
  /** Wrong answers, failed streams and streams not sent (included in errors). */
  readonly errors: number
  /** Offered but not sent: `concurrency` streams per connection were already in flight. */
  readonly notSent: number
  readonly rate: number
  /**
   * From the intended start to the arrival of the ProcessingResponse: what holds Envoy's
   * request (Envoy goes on as soon as the answer arrives; the trailers that end the stream come
   * later and hold nothing). Counted only for streams that then end with grpc-status 0.
   */
  readonly latencyMs: ReturnType<Samples['summary']>
}

// ProcessingResponse tags of the first field: request_headers (1, LEN) or immediate_response (7).
const TAG_REQUEST_HEADERS = 0x0a
const TAG_IMMEDIATE = 0x3a

/**
 * Drives Process streams like Envoy: one stream per request, one request_headers message
 * (half-closed), wait for the answer and trailers. Latency runs to the answer's arrival (see
 * LoadResult.latencyMs) and is measured from the intended start
 * (open loop) so a stalled server cannot hide queueing (no coordinated omission).
 */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const headers = {
    ':method': 'POST',
    ':path': PROCESS_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  }
  const sessions = await Promise.all(
    Array.from({ length: o.connections }, () => connect(o.url, o.tls)),
  )
  const samples = o.samples ?? new Samples()
  let recording = false
  let completed = 0
  let errors = 0
  let notSent = 0
  let secondDone = 0
  let secondErrors = 0
  let inFlight = 0
  const cap = o.connections * o.concurrency
  let next = 0
  let started = 0

  const startOne = (intended: number, onDone?: () => void) => {
    const session = sessions[next++ % sessions.length] as http2.ClientHttp2Session
    inFlight++
    const frame = o.nextFrame?.() ?? o.frame
    started++
    let ok = false
    let answeredAt = 0
    let status: string | undefined
    const req = session.request(headers, { endStream: false })
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status'])
    })
    req.on('data', (chunk: Buffer) => {
      if (ok || chunk.length < 6) return
      const tag = chunk[5]
      ok = o.expect === 'allow' ? tag === TAG_REQUEST_HEADERS : tag === TAG_IMMEDIATE
      answeredAt = performance.now()
    })
    req.on('trailers', (t) => {
      status = String(t['grpc-status'])
    })
    req.on('error', () => {})
    req.on('close', () => {
      inFlight--
      const good = ok && status === '0'
      if (recording) {
        if (good) {
          completed++
          samples.add((answeredAt - intended) * 1000)
        } else errors++
      }
      secondDone++
      if (!good) secondErrors++
      onDone?.()
    })
    req.end(frame)
  }

  const progress = setInterval(() => {
    o.onProgress?.({ second: 0, rate: secondDone, errors: secondErrors })
    secondDone = 0
    secondErrors = 0
  }, 1000)

  const totalMs = (o.warmupS + o.durationS) * 1000
  const t0 = performance.now()
  let measuredFrom = t0
  const warmupTimer = setTimeout(() => {
    recording = true
    measuredFrom = performance.now()
  }, o.warmupS * 1000)
  if (o.warmupS === 0) recording = true

  await new Promise<void>((resolve) => {
    if (o.rate === undefined) {
      // Closed loop: each finished stream starts the next until time is up.
      let stopping = false
      const loop = () => {
        if (stopping) {
          if (inFlight === 0) resolve()
          return
        }
        startOne(performance.now(), loop)
      }
      setTimeout(() => {
        stopping = true
        if (inFlight === 0) resolve()
      }, totalMs)
      for (let i = 0; i < cap; i++) startOne(performance.now(), loop)
      return
    }
    // Open loop: stream i is due at t0 + i/rate, whatever happened to earlier ones.
    const interval = 1000 / o.rate
    let issued = 0
    const tick = () => {
      const now = performance.now()
      const elapsed = now - t0
      if (elapsed >= totalMs) {
        const wait = () => (inFlight === 0 ? resolve() : setTimeout(wait, 5))
        wait()
        return
      }
      const due = Math.floor(elapsed / interval)
      while (issued <= due) {
        const intended = t0 + issued * interval
        issued++
        if (inFlight >= cap) {
          if (recording) {
            errors++ // offered but could not be sent: counted, never hidden
            notSent++
          }
          continue
        }
        startOne(intended)
      }
      // setImmediate, not a 1 ms timer: the generator has its own core, and timer granularity
      // would add up to a millisecond of scheduling delay to every measured latency.
      setImmediate(tick)
    }
    tick()
  })
  clearTimeout(warmupTimer)
  clearInterval(progress)
  const measuredS = (performance.now() - measuredFrom) / 1000
  for (const s of sessions) s.close()
  return {
    mode: o.rate === undefined ? 'max' : 'rate',
    offered: o.rate ?? null,
    connections: o.connections,
    concurrency: o.concurrency,
    durationS: Math.round(measuredS * 100) / 100,
    completed,
    started,
    errors,
    notSent,
    rate: Math.round(completed / measuredS),
    latencyMs: samples.summary(),
  }
}

function connect(
  url: string,
  tls: http2.SecureClientSessionOptions | undefined,
): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, {
      ...tls,
      settings: { initialWindowSize: 1024 * 1024, enablePush: false },
      peerMaxConcurrentStreams: 100_000,
    })
    s.once('connect', () => {
      s.off('error', reject)
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', reject)
  })
}
