import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import type { z } from 'zod'
import { type ConfigOverrides, reloadConfigOnChange, withOverrides } from '../app/reload-config.js'
import { runWorkers } from '../app/run-workers.js'
import { type RunningServer, startServer } from '../app/server.js'
import { askPrimaryForHashKey } from '../app/share-hash-key.js'
import { DEFAULT_CONFIG_SOURCE, defaultConfig } from '../config/default-config.js'
import { problemsFromZod } from '../config/errors.js'
import { loadConfigFile } from '../config/load-config.js'
import { ConfigSchema } from '../config/schema.js'
import { NO_KEY_FILE_MESSAGE } from '../observe/hash-key-source.js'
import { createLogger } from '../shared/logger.js'
import { randomHashKey } from '../shared/session-hasher.js'
import { EXIT_OK, UsageError } from './command.js'
import { asConfigError } from './load-for-check.js'

/** A flag's value checked by the config key's own schema; a usage error naming the flag. */
function flagValue<T>(flag: string, schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input, { reportInput: true })
  if (result.success) return result.data
  const [problem] = problemsFromZod(result.error)
  throw new UsageError(problem?.message ?? 'invalid value', { flag })
}

/** After close() the process exits at the latest this much later (log lines still flushing). */
const EXIT_AFTER_CLOSE_MS = 500

export async function run(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string', short: 'l' },
      workers: { type: 'string', short: 'w' },
    },
    strict: true,
  })
  // Flags go through the file's own validators: `--listen 127.0.0.1:99999` is refused as
  // `listen: 127.0.0.1:99999` is, before anything is loaded or bound.
  const overrides: ConfigOverrides = {
    ...(values.listen === undefined
      ? {}
      : { listen: flagValue('--listen', ConfigSchema.shape.listen, values.listen) }),
    ...(values.workers === undefined
      ? {}
      : {
          workers: flagValue(
            '--workers',
            ConfigSchema.shape.workers,
            /^\d{1,6}$/.test(values.workers) ? Number(values.workers) : values.workers,
          ),
        }),
  }
  const source = values.config ?? DEFAULT_CONFIG_SOURCE
  const loaded = values.config ? await loadConfigFile(values.config) : defaultConfig()
  const config = withOverrides(loaded, overrides)
  const logger = createLogger(config.logging.level)
  if (config.workers > 1 && cluster.isPrimary) {
    // One random key for all workers (asked for over IPC), said once here rather than by each.
    if (config.logging.hash_key_file === undefined) logger.info(NO_KEY_FILE_MESSAGE)
    return runWorkers(config.workers, logger, randomHashKey())
  }
  let server: RunningServer
  try {
    server = await startServer({
      config,
      configSource: source,
      logger,
      ...(cluster.isWorker ? { fallbackHashKey: await askPrimaryForHashKey() } : {}),
    })
  } catch (err) {
    throw values.config === undefined ? err : asConfigError(values.config, err)
  }
  const stopReload = values.config
    ? reloadConfigOnChange(values.config, server, logger, overrides)
    : undefined
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) process.exit(1) // a second signal exits at once
      stopping = true
      // Drain: health says NOT_SERVING so Envoy's health checks move traffic away, while
      // streams keep being served; then stop accepting and let open streams finish.
      stopReload?.()
      server.health.setServing(false)
      // The shutdown settings in force: a reload may have changed them.
      const { shutdown } = server.currentConfig()
      logger.info({ signal, drain_seconds: shutdown.drain_seconds }, 'draining')
      setTimeout(() => {
        logger.info('shutting down')
        server.close(shutdown.grace_seconds * 1000).then(resolve, resolve)
      }, shutdown.drain_seconds * 1000).unref()
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  })
  logger.flush()
  // Shutdown ends within drain + grace: close() has destroyed every connection by its
  // deadline, and nothing a peer or a library still holds open may keep the process alive.
  setTimeout(() => process.exit(process.exitCode ?? EXIT_OK), EXIT_AFTER_CLOSE_MS).unref()
  return EXIT_OK
}
