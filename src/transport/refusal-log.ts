import { LogLimiter } from '../shared/log-limiter.js'
import type { Logger } from '../shared/logger.js'

/** Channel admission counters, cumulative (the channel_peers_refused_total metric). */
export interface PeerGateStats {
  admitted: number
  refused: number
  /** Refusals whose log line the rate limit left out. */
  notLogged: number
}

/** Longest presented identity logged (a certificate may carry many or long SANs). */
const MAX_PRESENTED_CHARS = 512

/**
 * The "refused peer" warning of the peer check (both transports), rate limited: every refusal is
 * counted in `stats.refused`; lines beyond the limiter's budget are left out and counted in
 * `stats.notLogged`, and the next line written carries `not_logged` (how many before it).
 */
export function refusalLog(
  logger: Logger,
  stats: PeerGateStats,
  limiter = new LogLimiter(),
): (fields: { presented: string; reason: string; peer?: string }) => void {
  return (fields) => {
    stats.refused++
    const skipped = limiter.take()
    if (skipped === undefined) {
      stats.notLogged++
      return
    }
    const presented =
      fields.presented.length > MAX_PRESENTED_CHARS
        ? `${fields.presented.slice(0, MAX_PRESENTED_CHARS)}…`
        : fields.presented
    logger.warn(
      { ...fields, presented, ...(skipped > 0 ? { not_logged: skipped } : {}) },
      'refused peer',
    )
  }
}
