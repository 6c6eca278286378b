import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino'
import { BatchedDestination } from './batched-destination.js'

export type { Logger }

/**
 * Paths censored wherever they appear in a log object. Tokens, keys and Authorization values
 * are never passed to the logger in the first place; this is the second line of defence.
 */
const REDACT_PATHS = [
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

/**
 * Where `serve` logs: asynchronous writes (a slow reader of stdout never blocks decisions)
 * batched for a few milliseconds (see BatchedDestination). `dest` is a file descriptor or path.
 */
export function logDestination(dest: number | string = 1): BatchedDestination {
  return new BatchedDestination(pino.destination({ dest, sync: false }))
}

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'extproc-authz',
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination ?? logDestination(1),
  )
}
