import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { LocalLab, REPO_ROOT } from './lab.js'

// `make lab-local`: the lab without Docker. Real Envoy (the pinned version, ENVOY_BIN from
// scripts/envoy.sh) on envoy/envoy.yaml, the processor from dist/ on lab/config.yaml, and the
// counting upstream, all on 127.0.0.1, until Ctrl-C. Files go to .lab-local/ (git-ignored).

const envoyBin = process.env.ENVOY_BIN
if (envoyBin === undefined || envoyBin === '') {
  process.stderr.write('lab-local: ENVOY_BIN is not set; run it with `make lab-local`\n')
  process.exit(2)
}
const dir = join(REPO_ROOT, '.lab-local')
rmSync(dir, { recursive: true, force: true })
const lab = await LocalLab.start({ envoyBin, dir })
const rel = (p: string) => relative(process.cwd(), p) || '.'
const certs = rel(lab.certDir)
const curl = `curl -sS --cacert ${certs}/bundle.pem --cert ${certs}/client.pem --key ${certs}/client-key.pem`
const url = `https://localhost:${lab.envoyPort}`
const token = execFileSync(
  process.execPath,
  [
    join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'),
    'token',
    'encrypt',
    '--public-key',
    join(lab.keyDir, 'public.pem'),
    '--session-id',
    'sess-42',
  ],
  { encoding: 'utf8' },
).trim()
const lines = [
  `lab-local: up. Envoy ${url} (admin http://${lab.envoyAdmin}), processor 127.0.0.1:${lab.processor().port}, files in ${rel(dir)}/`,
  'Try:',
  `  ${curl} ${url}/api/hello                       # 200: the runner SVID is allowed`,
  `  ${curl} ${url}/internal/metrics                # 403 no_matching_rule`,
  `  ${curl} ${url}/api/sessions/sess-42/logs       # 401 token_missing`,
  `  ${curl} -H "Authorization: Bearer $(cat ${rel(dir)}/token.txt)" ${url}/api/sessions/sess-42/logs   # 200`,
  `  tail -f ${rel(dir)}/envoy-access.log           # status and %RESPONSE_CODE_DETAILS% per request`,
  `  kill -STOP ${lab.processor().proc.pid}   # hang the processor: 504; kill -CONT ${lab.processor().proc.pid} resumes`,
  'Ctrl-C stops everything.',
]
writeFileSync(join(dir, 'token.txt'), `${token}\n`, { mode: 0o600 })
process.stdout.write(`${lines.join('\n')}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  process.stdout.write(`lab-local: stopping (upstream saw ${lab.upstream.count()} request(s))\n`)
  void lab.close().then(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
