import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { runWorkers } from '../cluster/run-workers.js'
import { askPrimaryForHashKey } from '../cluster/share-hash-key.js'
import { DEFAULT_CONFIG_SOURCE, defaultConfig } from '../config/default-config.js'
import { loadConfigFile } from '../config/load-config.js'
import {
  type ConfigOverrides,
  reloadConfigOnChange,
  withOverrides,
} from '../config/reload-config.js'
import { NO_KEY_FILE_MESSAGE } from '../observe/hash-key-source.js'
import { createLogger } from '../observe/logger.js'
import { randomHashKey } from '../observe/session-hasher.js'
import { startServer } from '../server.js'
import { type Command, EXIT_OK } from './command.js'

/** After close() the process exits at the latest this much later (log lines still flushing). */
const EXIT_AFTER_CLOSE_MS = 500

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the ext_proc authorizer (embedded default config without --config)',
  usage: `Usage: extproc-authz serve [--config FILE] [--listen HOST:PORT]

Serves envoy.service.ext_proc.v3.ExternalProcessor/Process.

Options:
  -c, --config FILE      YAML config file (default: the embedded development config:
                         plaintext on 127.0.0.1:50051, GET /healthz public, /api/** for
                         SPIFFE IDs in example.org, everything else denied)
  -l, --listen HOST:PORT override the config's listen address
  -w, --workers N        override the config's workers (processes sharing the socket)
  -h, --help             show this help`,
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        listen: { type: 'string', short: 'l' },
        workers: { type: 'string', short: 'w' },
      },
      strict: true,
    })
    const source = values.config ?? DEFAULT_CONFIG_SOURCE
    const loaded = values.config ? await loadConfigFile(values.config) : defaultConfig()
    const overrides: ConfigOverrides = {
      ...(values.listen ? { listen: values.listen } : {}),
      ...(values.workers === undefined ? {} : { workers: Number(values.workers) }),
    }
    const config = withOverrides(loaded, overrides)
    if (!Number.isInteger(config.workers) || config.workers < 1 || config.workers > 64) {
      throw new Error('--workers: expected an integer from 1 to 64')
    }
    const logger = createLogger(config.logging.level)
    if (config.workers > 1 && cluster.isPrimary) {
      // One random key for all workers (asked for over IPC), said once here rather than by each.
      if (config.logging.hash_key_file === undefined) logger.info(NO_KEY_FILE_MESSAGE)
      return runWorkers(config.workers, logger, randomHashKey())
    }
    const server = await startServer({
      config,
      configSource: source,
      logger,
      ...(cluster.isWorker ? { fallbackHashKey: await askPrimaryForHashKey() } : {}),
    })
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
  },
}
