import { access } from 'node:fs/promises'
import type { Logger } from '../shared/logger.js'
import { type FileWatch, watchFiles } from '../shared/watch-files.js'
import type { RunnerTokensConfig } from './config-schema.js'
import { writeKeyPair } from './generate-keypair.js'
import { type Keyring, loadKeyring } from './keyring.js'
import { decryptionSlots, RunnerTokenResolver } from './runner-token-resolver.js'

export interface RunnerTokens {
  readonly resolver: RunnerTokenResolver
  /** Re-reads the key files; a bad or half-written set never replaces the working keyring. */
  reload(): Promise<boolean>
  /** Reloads so far by result (the token_key_reloads_total metric). */
  reloads(): { ok: number; failed: number }
  close(): void
}

function describeKeyring(k: Keyring) {
  return { current_kid: k.current.kid, kids: k.keys.map((x) => x.kid), bits: k.current.bits }
}

/** Loads the keyring once, builds the resolver and condition, and watches the key files. */
export async function setUpRunnerTokens(
  config: RunnerTokensConfig,
  logger: Logger,
  {
    watch = true,
    /** Serving processes sharing the cores (`workers`): each runs its share of decryptions. */
    processes = 1,
  } = {},
): Promise<RunnerTokens> {
  const [currentFile] = config.private_keys
  if (config.generate_if_missing && currentFile !== undefined) {
    const exists = await access(currentFile).then(
      () => true,
      () => false,
    )
    if (!exists) {
      const pair = await writeKeyPair(currentFile, 4096)
      logger.warn(
        { private_key: pair.privateKeyFile, public_key: pair.publicKeyFile },
        'generated a new 4096-bit runner token keypair: give runners the public key',
      )
    }
  }
  const resolver = new RunnerTokenResolver(
    await loadKeyring(config.private_keys),
    config,
    Date.now,
    decryptionSlots(processes),
  )
  logger.info(describeKeyring(resolver.currentKeyring), 'runner token keys loaded')

  const reloads = { ok: 0, failed: 0 }
  const reload = async (): Promise<boolean> => {
    try {
      const next = await loadKeyring(config.private_keys)
      resolver.setKeyring(next)
      reloads.ok++
      logger.info(describeKeyring(next), 'runner token keys reloaded')
      return true
    } catch (err) {
      reloads.failed++
      // The message names the file and the problem, never key material.
      logger.error(
        { err: (err as Error).message },
        'runner token keys not reloaded; keeping the last good keyring',
      )
      return false
    }
  }
  const watcher: FileWatch | undefined = watch
    ? watchFiles(config.private_keys, () => void reload())
    : undefined

  return {
    resolver,
    reload,
    reloads: () => ({ ...reloads }),
    close: () => watcher?.close(),
  }
}
