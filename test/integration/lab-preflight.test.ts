import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

// make lab / lab-down run scripts/lab-preflight.sh first: without Compose or an engine they say
// what is missing instead of `unknown shorthand flag: 'd' in -d`.
const SCRIPT = fileURLToPath(new URL('../../../scripts/lab-preflight.sh', import.meta.url))
const bin = mkdtempSync(join(tmpdir(), 'lab-preflight-'))
after(() => rmSync(bin, { recursive: true, force: true }))

/** A fake `docker` on PATH: `compose version` and `info` exit with the given codes. */
function fakeDocker(composeExit: number, infoExit: number): void {
  const script = `#!/bin/sh
case "$1 $2" in
  "compose version") exit ${composeExit} ;;
  "info "*) exit ${infoExit} ;;
esac
exit 125
`
  writeFileSync(join(bin, 'docker'), script)
  chmodSync(join(bin, 'docker'), 0o755)
}

function preflight(compose?: string) {
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:/usr/bin:/bin` }
  if (compose !== undefined) env.COMPOSE = compose
  return spawnSync('bash', [SCRIPT], { env, encoding: 'utf8' })
}

test('Compose plugin missing: one line says so and names COMPOSE=, exit 2', () => {
  fakeDocker(1, 0)
  const r = preflight()
  assert.equal(r.status, 2)
  assert.match(
    r.stderr,
    /^lab: 'docker compose version' fails: Docker Compose is missing.*COMPOSE=/m,
  )
  assert.doesNotMatch(r.stderr, /engine/)
})

test('no engine reachable: says so, exit 2', () => {
  fakeDocker(0, 1)
  const r = preflight()
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^lab: no container engine reachable \('docker info' fails\)/m)
})

test('a COMPOSE that is not on PATH is named', () => {
  fakeDocker(0, 0)
  const r = preflight('no-such-compose')
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^lab: 'no-such-compose' is not on PATH/m)
})

test('Compose and engine present: silent, exit 0', () => {
  fakeDocker(0, 0)
  const r = preflight()
  assert.equal(r.stderr, '')
  assert.equal(r.status, 0)
})
