import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { isValidTrustDomain } from '../identity/spiffe-id.js'
import { generateCa, type Issued, issueLeaf } from '../pki/generate.js'
import { type Command, EXIT_OK, UsageError } from './command.js'

// Names the Envoy lab configs rely on: change them together.
async function writePair(dir: string, name: string, issued: Issued): Promise<void> {
  await writeFile(join(dir, `${name}.pem`), issued.certPem, { mode: 0o644 })
  const keyFile = join(dir, `${name}-key.pem`)
  await writeFile(keyFile, issued.keyPem, { mode: 0o600 })
  await chmod(keyFile, 0o600) // mode applies only on creation; an existing file keeps its own
}

export const certsCommand: Command = {
  name: 'certs',
  summary: 'Generate a lab/dev SPIFFE PKI (CA bundle and X.509-SVIDs)',
  usage: `Usage: extproc-authz certs generate --out DIR [--trust-domain example.org]

Writes into DIR (lab and development only; keys are mode 0600, never commit them):
  bundle.pem                        the CA (trust bundle)
  envoy.pem, envoy-key.pem          spiffe://<td>/envoy, DNS envoy, localhost
  processor.pem, processor-key.pem  spiffe://<td>/extproc-authz, DNS extproc-authz, localhost
  client.pem, client-key.pem        spiffe://<td>/ns/ci/sa/runner

Options:
  -o, --out DIR              output directory (created)
  -t, --trust-domain NAME    trust domain (default example.org)
  -h, --help                 show this help`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        out: { type: 'string', short: 'o' },
        'trust-domain': { type: 'string', short: 't', default: 'example.org' },
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
    const dir = values.out
    await mkdir(dir, { recursive: true })
    const ca = await generateCa(`${td} lab CA`)
    await writeFile(join(dir, 'bundle.pem'), ca.certPem, { mode: 0o644 })
    // DNS names too: clients such as curl check the host name of Envoy's listener certificate.
    await writePair(
      dir,
      'envoy',
      await issueLeaf(ca, { uris: [`spiffe://${td}/envoy`], dns: ['envoy', 'localhost'] }),
    )
    await writePair(
      dir,
      'processor',
      await issueLeaf(ca, {
        uris: [`spiffe://${td}/extproc-authz`],
        dns: ['extproc-authz', 'localhost'],
      }),
    )
    await writePair(
      dir,
      'client',
      await issueLeaf(ca, { uris: [`spiffe://${td}/ns/ci/sa/runner`] }),
    )
    process.stdout.write(`wrote lab PKI for ${td} to ${dir}\n`)
    return EXIT_OK
  },
}
