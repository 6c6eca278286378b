import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalLab, type LocalLabOptions } from '../../lab/local/lab.js'
import { envoyBin } from '../helpers/envoy.js'
import { accessLogEntry } from './access-log.js'
import type { LabControl } from './lab-control.js'

// The local lab (lab/local/) behind the LabControl interface: real Envoy, processors as child
// processes, SIGKILL / SIGSTOP / SIGCONT / a fresh start for the outages.

export interface LocalLabControl extends LabControl {
  readonly lab: LocalLab
  close(): Promise<void>
}

export async function startLocalLab(
  name: string,
  opts: Omit<LocalLabOptions, 'envoyBin' | 'dir'> = {},
): Promise<LocalLabControl> {
  const dir = await mkdtemp(join(tmpdir(), `lab-${name}-`))
  const lab = await LocalLab.start({ envoyBin: envoyBin(), dir, ...opts })
  const p = lab.processor(0)
  const publicKey = join(lab.keyDir, 'public.pem')
  const control: LocalLabControl = {
    lab,
    envoyPort: lab.envoyPort,
    ca: lab.file('bundle.pem'),
    runner: { cert: lab.file('client.pem'), key: lab.file('client-key.pem') },
    other: { cert: lab.file('processor.pem'), key: lab.file('processor-key.pem') },
    token: (session) =>
      lab.cli(['token', 'encrypt', '--public-key', publicKey, '--session-id', session]).trim(),
    jwe: (session, ttl) =>
      lab
        .cli([
          'token',
          'encrypt',
          '--public-key',
          publicKey,
          '--session-id',
          session,
          '--jwe',
          '--ttl',
          ttl,
        ])
        .trim(),
    upstreamCount: async () => lab.upstream.count(),
    async kill() {
      p.proc.signal('SIGKILL')
      await p.proc.exited()
    },
    async hang() {
      p.proc.signal('SIGSTOP')
    },
    async resume() {
      p.proc.signal('SIGCONT')
    },
    async restart() {
      if (!p.proc.running) await lab.startProcessor(p)
    },
    async details(path) {
      return (await control.accessLine(path)).details
    },
    async accessLine(path) {
      // The query's nonce survives Envoy's path normalisation; the path itself may not.
      const key = /[?&]n=[^&]+/.exec(path)?.[0]?.slice(1) ?? path
      return accessLogEntry(await lab.accessLogLine((e) => String(e.path).includes(key)))
    },
    async close() {
      await lab.close()
      if (process.env.LAB_KEEP !== '1') await rm(dir, { recursive: true, force: true })
    },
  }
  return control
}
