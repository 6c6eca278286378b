import type { Config } from '../config/schema.js'
import type { Snapshot, SnapshotHolder } from '../extproc/snapshot.js'
import type { DecisionLog } from '../observe/decision-log.js'
import type { HashKeySource } from '../observe/hash-key-source.js'
import { AuthzError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { buildCredentials, CREDENTIAL_SECTIONS } from './build-credentials.js'
import { buildSnapshot } from './build-snapshot.js'
import type { CredentialsInForce } from './credentials-in-force.js'
import type { StreamSlots } from './stream-slots.js'

/**
 * Settings bound at start (sockets, processes, the channel's certificates and admitted peers): a
 * reload that changes one is refused whole, so nothing is half-applied or silently ignored.
 */
export const RESTART_ONLY = ['listen', 'transport', 'workers', 'tls', 'admin'] as const

/** A reload that changes a restart-only setting. */
class RestartRequiredError extends AuthzError {
  static readonly code = 'ERR_RESTART_REQUIRED'
  override readonly name = 'RestartRequiredError'
  constructor(readonly settings: readonly string[]) {
    super(
      RestartRequiredError.code,
      `changed settings need a restart: ${settings.join(', ')} (the reload is refused whole; ` +
        'restart to apply them)',
    )
  }
}

function restartOnlyChanges(current: Config, next: Config): string[] {
  return RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]))
}

/** Credentials are rebuilt only when a section they are built from changes (caches stay). */
function sameCredentialSettings(a: Config, b: Config): boolean {
  return CREDENTIAL_SECTIONS.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]))
}

/** What a reload replaces or reconfigures. */
interface ReloadTargets {
  readonly logger: Logger
  readonly hashKeys: HashKeySource
  readonly credentials: CredentialsInForce
  readonly snapshots: SnapshotHolder
  readonly slots: StreamSlots
  readonly decisionLog: DecisionLog
}

/**
 * The config in force: the start one, then each reload, applied whole or not at all, one at a
 * time in call order.
 */
export class ConfigInForce {
  private applying: Promise<void> = Promise.resolve()

  constructor(
    private config: Config,
    private readonly targets: ReloadTargets,
  ) {}

  get current(): Config {
    return this.config
  }

  /** Applies `next` after the reloads called before it; rejects with everything as it was. */
  apply(next: Config): Promise<void> {
    const result = this.applying.then(() => this.applyNow(next))
    this.applying = result.catch(() => {})
    return result
  }

  // Everything is built before anything is swapped: a reload is applied whole or not at all.
  private async applyNow(next: Config): Promise<void> {
    const { logger, hashKeys, credentials, snapshots, slots, decisionLog } = this.targets
    const changed = restartOnlyChanges(this.config, next)
    if (changed.length > 0) throw new RestartRequiredError(changed)
    // Read first: a bad key file refuses the reload before anything else is built.
    const commitHashKey = await hashKeys.prepare(next.logging)
    const reuse = sameCredentialSettings(this.config, next)
    const nextCredentials = reuse ? credentials.current : await buildCredentials(next, logger)
    let nextSnapshot: Snapshot
    try {
      nextSnapshot = buildSnapshot(next, nextCredentials, hashKeys.hasher)
    } catch (err) {
      if (!reuse) nextCredentials.close()
      throw err
    }
    // Commit: from here on nothing throws.
    if (!reuse) credentials.replace(nextCredentials)
    snapshots.swap(nextSnapshot)
    this.config = next
    slots.maxStreams = next.limits.max_streams
    // Logging applies at once: no restart for a level or a sampling rate.
    logger.level = next.logging.level
    commitHashKey()
    decisionLog.configure(next.logging)
  }
}
