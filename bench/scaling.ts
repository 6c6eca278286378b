import { grpcFrame } from './frame.js'
import { runH2load } from './h2load.js'
import { treeCpuSeconds } from './proc-cpu.js'
import { scenarioByName } from './scenarios.js'
import { startTarget } from './target-process.js'

export interface ScalingRow {
  workers: number
  cpus: string
  clientCpus: string
  connections: number
  rate: number
  errors: number
  /** CPU-seconds the server's processes used per wall second (cores actually used). */
  serverCores: number
  /** streams/s per server core used: the rate divided by serverCores. */
  perServerCore: number
}

/**
 * The product's workers mode (cluster, one process per core) under h2load. With 1 worker the
 * server has CPU 0 and h2load CPU 1; with 2 workers the server has both and h2load shares them
 * (the machine has 2 cores), so the server's own CPU time is measured from /proc to show how
 * much of the 2 cores it got; what remains went to h2load and to other tenants.
 */
export async function scalingRun(
  workers: number,
  cpus: string,
  clientCpus: string,
  connections: number,
  streams: number,
  durationS: number,
  warmupS: number,
): Promise<ScalingRow> {
  const t = await startTarget('authz-http2-cluster', 'spiffe-allow', {
    cpus,
    env: { BENCH_WORKERS: String(workers) },
  })
  try {
    const cpu0 = treeCpuSeconds(t.pid)
    const wall0 = performance.now()
    const r = await runH2load({
      port: t.port,
      frame: grpcFrame(scenarioByName('spiffe-allow').request),
      connections,
      concurrency: streams,
      durationS,
      warmupS,
      cpus: clientCpus,
    })
    const cores = (treeCpuSeconds(t.pid) - cpu0) / ((performance.now() - wall0) / 1000)
    return {
      workers,
      cpus,
      clientCpus,
      connections,
      rate: r.rate,
      errors: r.failed,
      serverCores: Math.round(cores * 100) / 100,
      perServerCore: cores > 0 ? Math.round(r.rate / cores) : 0,
    }
  } finally {
    await t.stop()
  }
}
