import { Writable } from 'node:stream'
import { type RunningServer, type ServerOptions, startServer } from '../../src/app/server.js'
import { parseConfig } from '../../src/config/load-config.js'
import { createLogger } from '../../src/shared/logger.js'

/** Captures every log line the server writes, parsed. */
export class LogCapture extends Writable {
  readonly raw: string[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.raw.push(line)
    cb()
  }
  get lines(): Record<string, unknown>[] {
    return this.raw.map((l) => JSON.parse(l) as Record<string, unknown>)
  }
  text(): string {
    return this.raw.join('\n')
  }
}

export interface TestServer {
  readonly server: RunningServer
  readonly port: number
  readonly logs: LogCapture
  close(): Promise<void>
}

/** Starts the real server on 127.0.0.1 port 0 from config YAML (listen is overridden). */
export async function startTestServer(
  yaml: string,
  extra: Partial<Omit<ServerOptions, 'config' | 'logger' | 'configSource'>> & {
    level?: 'debug' | 'info' | 'trace'
    /** Overrides the config's transport (tests run against both). */
    transport?: 'http2' | 'grpc-js'
  } = {},
): Promise<TestServer> {
  const parsed = parseConfig(yaml, 'test.yaml')
  const config = {
    ...parsed,
    listen: '127.0.0.1:0',
    transport: extra.transport ?? parsed.transport,
  }
  const logs = new LogCapture()
  const logger = createLogger(extra.level ?? 'info', logs)
  const server = await startServer({ ...extra, config, configSource: 'test.yaml', logger })
  return {
    server,
    port: server.port,
    logs,
    close: () => server.close(1000),
  }
}
