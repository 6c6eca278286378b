import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

// Child processes of the local lab (Envoy, processors), with their output kept for assertions
// and written to a log file for people. Every wait polls against a deadline; nothing here
// assumes how fast a busy machine is.

const KEEP_CHARS = 512 * 1024

export interface ExitState {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export class Proc {
  private child: ChildProcess | undefined
  private out = ''
  private dropped = 0
  private exitState: ExitState | undefined
  private exitPromise: Promise<void> = Promise.resolve()
  private log: WriteStream | undefined

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly logFile?: string,
  ) {}

  /** Starts the process (again, after it exited); its output accumulates across runs. */
  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`)
    this.log ??=
      this.logFile === undefined ? undefined : createWriteStream(this.logFile, { flags: 'a' })
    const child = spawn(this.command, [...this.args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.exitState = undefined
    const append = (d: Buffer) => {
      this.log?.write(d)
      this.out += d.toString('utf8')
      if (this.out.length > 2 * KEEP_CHARS) {
        this.dropped += this.out.length - KEEP_CHARS
        this.out = this.out.slice(-KEEP_CHARS)
      }
    }
    child.stdout?.on('data', append)
    child.stderr?.on('data', append)
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitState = { code, signal }
        resolve()
      })
      child.on('error', (err) => {
        append(Buffer.from(`\n${this.name}: ${err.message}\n`))
        this.exitState = { code: null, signal: null }
        resolve()
      })
    })
  }

  get running(): boolean {
    return this.child !== undefined && this.exitState === undefined
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  exit(): ExitState | undefined {
    return this.exitState
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child?.kill(sig)
  }

  /** A position in the output, for since() and waitFor(). */
  mark(): number {
    return this.dropped + this.out.length
  }

  since(from = 0): string {
    return this.out.slice(Math.max(0, from - this.dropped))
  }

  async waitFor(re: RegExp, ms: number, from = 0): Promise<string> {
    const deadline = Date.now() + ms
    for (;;) {
      const m = re.exec(this.since(from))
      if (m !== null) return m[0]
      if (this.exitState !== undefined) {
        throw new Error(
          `${this.name} exited (${JSON.stringify(this.exitState)}) before ${re}:\n${this.since().slice(-3000)}`,
        )
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${re} within ${ms} ms:\n${this.since(from).slice(-3000)}`)
      }
      await sleep(20)
    }
  }

  /** Resolves once exited; SIGKILL after `ms` if it has not. */
  async exited(ms = 30_000): Promise<ExitState> {
    if (this.child === undefined) return { code: null, signal: null }
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), ms)
    await this.exitPromise
    clearTimeout(timer)
    return this.exitState ?? { code: null, signal: null }
  }

  /** SIGCONT (a stopped process cannot die of SIGTERM), SIGTERM, then SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (!this.running) return
    this.signal('SIGCONT')
    this.signal('SIGTERM')
    await this.exited(ms)
  }

  closeLog(): void {
    this.log?.end()
    this.log = undefined
  }
}

/** A TCP port free on 127.0.0.1 now (the processor must keep its port across restarts). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
