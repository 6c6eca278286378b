import cluster, { type Worker } from 'node:cluster'
import type { Logger } from '../shared/logger.js'
import { serveHashKey } from './share-hash-key.js'

/** Longest a worker may take to exit after SIGTERM before the primary kills it. */
const STOP_GRACE_MS = 10_000
/** A worker that dies within this long after starting counts as a crash loop. */
const MIN_UPTIME_MS = 5_000
const MAX_QUICK_DEATHS = 5

/**
 * The multi-core serving mode, primary side: forks `count` workers that each run the full
 * server on the shared listen socket. The primary accepts connections and hands them out
 * round-robin (cluster.SCHED_RR), so balancing is per connection: Envoy opens one connection
 * per worker thread, and N connections can keep at most N workers busy (docs/transports.md, "Multi-core").
 * Resolves with the exit code once every worker has stopped: 1 when the start failed (a worker
 * exited before any worker listened: a config, TLS or bind error, or no SVID from the Workload
 * API) or workers kept dying at start, else 0. Every worker (a restarted one too) asks for
 * `hashKey`: the log hash key they share while no logging.hash_key_file is configured.
 */
export function runWorkers(count: number, logger: Logger, hashKey: Uint8Array): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_RR
  serveHashKey(hashKey)
  let stopping = false
  let exitCode = 0
  let quickDeaths = 0
  // Whether any worker ever listened: until one has, the service never started.
  let served = false
  const started = new Map<Worker, number>()
  const fork = () => started.set(cluster.fork(), Date.now())
  for (let i = 0; i < count; i++) fork()
  cluster.on('listening', () => {
    served = true
  })

  return new Promise<number>((resolve) => {
    const finishIfDone = () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve(exitCode)
    }
    const fail = (fields: object, msg: string) => {
      logger.fatal(fields, msg)
      exitCode = 1
      stopping = true
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM')
    }
    cluster.on('exit', (worker, code, signal) => {
      const uptime = Date.now() - (started.get(worker) ?? 0)
      started.delete(worker)
      if (stopping) {
        finishIfDone()
        return
      }
      if (!served) {
        fail(
          { pid: worker.process.pid, code, signal },
          'a worker exited before serving; start failed',
        )
        finishIfDone()
        return
      }
      logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; restarting it')
      quickDeaths = uptime < MIN_UPTIME_MS ? quickDeaths + 1 : 0
      if (quickDeaths >= MAX_QUICK_DEATHS) {
        // A config or bind error kills every worker at start: fail instead of spinning.
        fail({ quickDeaths }, 'workers keep dying at start; stopping')
        finishIfDone()
        return
      }
      fork()
    })
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1) // a second signal exits at once
      stopping = true
      logger.info({ signal, workers: count }, 'shutting down workers')
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal)
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      }, STOP_GRACE_MS).unref()
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
