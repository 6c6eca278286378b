import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { isValidTrustDomain } from '../identity/spiffe-id.js'
import { DEFAULT_LEAF_DAYS, LabPkiError, MAX_LEAF_DAYS, writeLabPki } from '../pki/lab-pki.js'
import { EXIT_FAILURE, EXIT_OK, UsageError } from './command.js'

function wholeDays(option: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text)
  if (text === undefined || !/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`${option} must be a whole number of days from ${min} to ${max}`)
  }
  return n
}

export async function run(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      out: { type: 'string', short: 'o' },
      'trust-domain': { type: 'string', short: 't', default: 'example.org' },
      days: { type: 'string', short: 'd', default: String(DEFAULT_LEAF_DAYS) },
      'ca-key': { type: 'string' },
      'keep-ca': { type: 'boolean', default: false },
      'renew-within': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (positionals[0] !== 'generate' || positionals.length !== 1) {
    throw new UsageError('expected: certs generate --out DIR')
  }
  const td = values['trust-domain'] ?? 'example.org'
  if (!isValidTrustDomain(td)) throw new UsageError(`invalid trust domain ${JSON.stringify(td)}`)
  if (values.out === undefined) throw new UsageError('--out DIR is required')
  const leafDays = wholeDays('--days', values.days, 1, MAX_LEAF_DAYS)
  const renew = values['renew-within']
  const renewWithinDays =
    renew === undefined ? undefined : wholeDays('--renew-within', renew, 0, leafDays - 1)
  const dir = values.out
  await mkdir(dir, { recursive: true })
  const caKey = values['ca-key']
  if (caKey !== undefined) await mkdir(dirname(caKey), { recursive: true, mode: 0o700 })
  try {
    const r = await writeLabPki({
      dir,
      trustDomain: td,
      leafDays,
      ...(caKey === undefined ? {} : { caKeyFile: caKey }),
      keepCa: values['keep-ca'] === true,
      ...(renewWithinDays === undefined ? {} : { renewWithinDays }),
    })
    const why = r.reason === undefined ? '' : ` (${r.reason})`
    const what = {
      kept: `kept the lab PKI in ${dir}: no certificate expires within ${renewWithinDays} days`,
      reissued: `re-issued the lab SVIDs for ${td} in ${dir} from its CA${why}`,
      created: `wrote lab PKI for ${td} to ${dir}${why}`,
    }[r.action]
    process.stdout.write(`${what}\n`)
    return EXIT_OK
  } catch (err) {
    if (!(err instanceof LabPkiError)) throw err
    process.stderr.write(`certs: ${err.message}\n`)
    return EXIT_FAILURE
  }
}
