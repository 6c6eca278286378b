import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const KEEP_CHARS = 1024 * 1024
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface ChildServer {
  readonly pid: number
  readonly port: number
  /** The admin HTTP port (/metrics), when the config has admin.listen. */
  readonly adminPort: number | undefined
  /** undefined while the process runs; its exit code and signal once it has exited. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined
  /** The last MiB it wrote to stdout and stderr (a long run logs more than a test needs). */
  output(): string
  /** The position of the output written so far, for waitFor's `from` and since(). */
  mark(): number
  /** The output written after `from` (a mark()), as far as it is still kept. */
  since(from: number): string
  /** Resolves once `re` matches output written after `from` (a mark()); throws at `ms`. */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<void>
  /** Sends a signal (SIGHUP to reload, SIGTERM to drain, ...). */
  kill(signal: NodeJS.Signals): void
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>
  /** SIGTERM, then the exit code (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | null>
}

/**
 * Runs `extproc-authz serve --config FILE` as a real child process, as an operator would, so a
 * crash is an observable exit rather than an exception swallowed by a test runner. The config
 * should listen on port 0 (and admin on port 0): the bound ports are read from the start log.
 */
export function startChildServer(
  configFile: string,
  {
    startMs = 15_000,
    env = {} as NodeJS.ProcessEnv,
    /** More `serve` arguments (`--listen`, `--workers`). */
    args = [] as readonly string[],
    /** The CLI entry point: this build's, or an installed package's. */
    main = MAIN,
    cwd = undefined as string | undefined,
    /** Node options before the script (`--trace-gc`, `--heapsnapshot-signal=SIGUSR2`). */
    nodeArgs = [] as readonly string[],
    /** Sees every chunk of stdout and stderr as it comes (the kept output is trimmed). */
    onOutput = undefined as ((chunk: string) => void) | undefined,
  } = {},
): Promise<ChildServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, main, 'serve', '--config', configFile, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd,
      env: { ...process.env, ...env },
    },
  )
  let out = ''
  let dropped = 0 // characters trimmed off the front of `out`
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const append = (d: Buffer) => {
    const text = d.toString('utf8')
    onOutput?.(text)
    out += text
    if (out.length > 2 * KEEP_CHARS) {
      dropped += out.length - KEEP_CHARS
      out = out.slice(-KEEP_CHARS)
    }
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const exitPromise = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      resolve()
    }),
  )
  const waitFor = async (re: RegExp, ms = 10_000, from = 0) => {
    const end = Date.now() + ms
    while (!re.test(out.slice(Math.max(0, from - dropped)))) {
      if (exited !== undefined) throw new Error(`server exited (${JSON.stringify(exited)}): ${out}`)
      if (Date.now() > end)
        throw new Error(`no ${re} within ${ms} ms; output:\n${out.slice(-4000)}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }
  return waitFor(/"msg":"extproc-authz serving"/, startMs).then(() => {
    const line = out.split('\n').find((l) => l.includes('"msg":"extproc-authz serving"')) ?? ''
    const started = JSON.parse(line) as { port: number; admin_port?: number }
    return {
      pid: child.pid as number,
      port: started.port,
      adminPort: started.admin_port,
      exit: () => exited,
      output: () => out.slice(-KEEP_CHARS),
      mark: () => dropped + out.length,
      since: (from) => out.slice(Math.max(0, from - dropped)),
      waitFor,
      kill: (signal) => {
        if (exited === undefined) child.kill(signal)
      },
      exited: () => exitPromise.then(() => exited?.code ?? null),
      async stop(ms = 10_000) {
        if (exited === undefined) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), ms)
          await exitPromise
          clearTimeout(timer)
        }
        return exited?.code ?? null
      },
    }
  })
}
