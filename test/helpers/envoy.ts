import { spawnSync } from 'node:child_process'

// The Envoy binary the suites run: `make test` resolves it once with scripts/envoy.sh (pinned
// version, envoy/VERSION) and passes it as ENVOY_BIN, so parallel test files never install it.
// EXTPROC_AUTHZ_SKIP_ENVOY=1 skips the Envoy suites knowingly; CI never sets it.

export const SKIP_ENVOY = process.env.EXTPROC_AUTHZ_SKIP_ENVOY === '1'

/** Why an Envoy suite is skipped, or false to run it (node:test's `skip` option). */
export const envoySkip: string | false = SKIP_ENVOY
  ? 'EXTPROC_AUTHZ_SKIP_ENVOY=1: Envoy suites skipped on request'
  : false

/** The Envoy binary; throws one line saying how to provide it when it is missing. */
export function envoyBin(): string {
  const bin = process.env.ENVOY_BIN
  if (bin === undefined || bin === '') {
    throw new Error(
      'ENVOY_BIN is not set: run the suites with `make test` (it provisions Envoy with scripts/envoy.sh), or set ENVOY_BIN=/path/to/envoy',
    )
  }
  return bin
}

/** `envoy --mode validate -c file`: Envoy's own verdict on a config. */
export function envoyValidate(file: string): { ok: boolean; output: string } {
  const r = spawnSync(envoyBin(), ['--mode', 'validate', '-c', file, '-l', 'error'], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.error !== undefined) throw r.error
  return { ok: r.status === 0, output: `${r.stdout}\n${r.stderr}` }
}
