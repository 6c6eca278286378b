import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino'

export type { Logger }

/**
 * Paths censored wherever they appear in a log object. Tokens, keys and Authorization values
 * are never passed to the logger in the first place; this is the second line of defence.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'token',
  '*.token',
  'bearer',
  '*.bearer',
  'privateKey',
  '*.privateKey',
  'key',
  '*.key',
]

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'extproc-authz',
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  )
}
