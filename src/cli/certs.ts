import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { isValidTrustDomain } from '../identity/spiffe-id.js'
import { DEFAULT_LEAF_DAYS, LabPkiError, MAX_LEAF_DAYS, writeLabPki } from '../pki/lab-pki.js'
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from './command.js'

function wholeDays(option: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text)
  if (text === undefined || !/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`${option} must be a whole number of days from ${min} to ${max}`)
  }
  return n
}

export const certsCommand: Command = {
  name: 'certs',
  summary: 'Generate a lab/dev SPIFFE PKI (CA bundle and X.509-SVIDs)',
  usage: `Usage: extproc-authz certs generate --out DIR [--trust-domain example.org] [--days ${DEFAULT_LEAF_DAYS}]
                                [--ca-key FILE] [--keep-ca] [--renew-within DAYS]

Writes into DIR (lab and development only; keys are mode 0600, never commit them):
  bundle.pem                        the CA (trust bundle)
  ca-key.pem                        the CA's private key (or --ca-key FILE), to re-issue leaves
  envoy.pem, envoy-key.pem          spiffe://<td>/envoy, DNS envoy, localhost
  processor.pem, processor-key.pem  spiffe://<td>/extproc-authz, DNS extproc-authz, localhost
  client.pem, client-key.pem        spiffe://<td>/ns/ci/sa/runner
Every file is written to a temporary name and renamed into place (Envoy's SDS file watch and the
processor see each one whole). PEM files end with a newline, so bundles can be concatenated.

Options:
  -o, --out DIR              output directory (created)
  -t, --trust-domain NAME    trust domain (default example.org)
  -d, --days N               leaf lifetime in days (default ${DEFAULT_LEAF_DAYS}, at most ${MAX_LEAF_DAYS}); the CA lives 365
      --ca-key FILE          where the CA key is kept (default DIR/ca-key.pem); keep it away from
                             what only needs the bundle
      --keep-ca              re-issue the leaves from the CA already in DIR (bundle.pem and the CA
                             key): the bundle does not change, so running peers keep trusting
      --renew-within DAYS    do nothing while every file is there and no certificate expires
                             within DAYS days; otherwise re-issue the leaves, keeping the CA when
                             it outlives them, else start a new CA (the lab's certs service)
  -h, --help                 show this help`,
  async run(args) {
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
  },
}
