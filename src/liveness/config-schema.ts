import { z } from 'zod'

// The optional `session_registry` section (issue 10). Kept in its own file so schema.ts only
// gains one line; durations are milliseconds, bounded so a typo cannot disable a check.

const ms = (min: number, max: number, dflt: number, what: string) =>
  z.int().min(min).max(max).default(dflt).describe(`${what} (milliseconds, ${min}-${max}).`)

const HttpSourceSchema = z
  .strictObject({
    kind: z.literal('http'),
    base_url: z
      .url({ protocol: /^https?$/ })
      .describe('Registry base URL; the service asks GET {base_url}/{url-encoded session id}.'),
    token_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        'File holding a bearer token (e.g. a projected service-account token). Re-read when ' +
          'it changes and once after a 401. Never logged.',
      ),
    tls: z
      .strictObject({
        cert_file: z.string().min(1).describe('Client certificate (PEM) for mTLS.'),
        key_file: z.string().min(1).describe('Client private key (PEM) for mTLS.'),
        ca_file: z.string().min(1).describe('CA bundle (PEM) that signs the registry.'),
      })
      .optional()
      .describe('mTLS to the registry.'),
    timeout: ms(50, 30_000, 1000, 'Per-lookup timeout'),
  })
  .describe('An HTTP registry: 200 means live, 404 means gone; anything else is an outage.')

const FileSourceSchema = z
  .strictObject({
    kind: z.literal('file'),
    path: z
      .string()
      .min(1)
      .describe('File of live session ids, one per line, # comments; swap it atomically.'),
  })
  .describe('A watched file listing live sessions; a broken file keeps the last good set.')

export const SessionRegistrySchema = z
  .strictObject({
    source: z.discriminatedUnion('kind', [HttpSourceSchema, FileSourceSchema]),
    recheck_interval: ms(1000, 86_400_000, 60_000, 'Re-check cached live sessions this often'),
    idle_purge: ms(1000, 86_400_000, 600_000, 'Drop cached sessions unused this long'),
    negative_ttl: ms(0, 600_000, 5000, 'Remember a gone session this long'),
    max_staleness: ms(
      1000,
      86_400_000,
      300_000,
      'Honour a cached live answer this long during a registry outage',
    ),
    max_entries: z
      .int()
      .min(16)
      .max(10_000_000)
      .default(100_000)
      .describe('Cached sessions at most; the least recently used is evicted.'),
  })
  .describe('Optional: a valid runner token must also name a session the registry says is live.')

export type SessionRegistryConfig = z.output<typeof SessionRegistrySchema>
