import { loadConfigFile } from '../config/load-config.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../shared/logger.js'
import { watchFiles } from '../shared/watch-files.js'
import type { RunningServer } from './server.js'

/** Command-line settings that win over the file, on start and on every reload alike. */
export type ConfigOverrides = Partial<Pick<Config, 'listen' | 'workers'>>

/** Applies command-line overrides to a config loaded from the file. */
export function withOverrides(config: Config, overrides: ConfigOverrides): Config {
  return { ...config, ...overrides }
}

/**
 * Reloads `file` on change (the directory is watched: editors and ConfigMaps replace files by
 * rename) and on SIGHUP. A config is validated whole and applied whole (policy with the keys
 * and registry it needs, see RunningServer.applyConfig); on any error, a change to a
 * restart-only setting included, the last good one stays. Both outcomes are logged and counted.
 * `overrides` are re-applied to every reloaded config: compared without them, `serve --listen`
 * would look like a changed listen address and every reload would be refused.
 */
export function reloadConfigOnChange(
  file: string,
  server: RunningServer,
  logger: Logger,
  overrides: ConfigOverrides = {},
): () => void {
  const reload = async (trigger: string) => {
    try {
      const next = withOverrides(await loadConfigFile(file), overrides)
      await server.applyConfig(next)
      server.reloads.ok++
      logger.info({ file, trigger, rules: next.policy.rules.length }, 'config reloaded')
    } catch (err) {
      server.reloads.failed++
      logger.error(
        { file, trigger, err: (err as Error).message },
        'config not reloaded; keeping the last good one',
      )
    }
  }
  const watch = watchFiles([file], () => void reload('file'), { debounceMs: 200, pollMs: 5000 })
  const onHup = () => void reload('SIGHUP')
  process.on('SIGHUP', onHup)
  return () => {
    watch.close()
    process.off('SIGHUP', onHup)
  }
}
