import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { REPO_ROOT } from '../../lab/local/lab.js'
import { SHIPPED_CERT_DIR } from '../../lab/local/overlay.js'
import { envoyBin, envoySkip, envoyValidate } from '../helpers/envoy.js'

// `envoy --mode validate` (the pinned Envoy) on every shipped config, with only the certificate
// directory moved to real files made by `certs generate` (validation loads them too); and one
// Envoy version for the whole project.

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const SHIPPED = [
  ...readdirSync(join(REPO_ROOT, 'envoy')),
  // Examples operators copy from (docs/production-envoy.md) are held to the same bar.
  ...readdirSync(join(REPO_ROOT, 'envoy', 'examples')).map((f) => `examples/${f}`),
]
  .filter((f) => f.endsWith('.yaml'))
  .sort()
const PINNED = readFileSync(join(REPO_ROOT, 'envoy', 'VERSION'), 'utf8').trim()

describe('the pinned Envoy validates every shipped config', { skip: envoySkip }, () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'envoy-validate-'))
    execFileSync(process.execPath, [MAIN, 'certs', 'generate', '--out', join(dir, 'certs')])
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test(`the Envoy under test is ${PINNED}`, () => {
    const out = execFileSync(envoyBin(), ['--version'], { encoding: 'utf8' })
    assert.match(out, new RegExp(`/${PINNED.replaceAll('.', '\\.')}/`), out)
  })

  for (const file of SHIPPED) {
    test(`envoy --mode validate envoy/${file}`, () => {
      const text = readFileSync(join(REPO_ROOT, 'envoy', file), 'utf8')
      const moved = join(dir, file.replaceAll('/', '-'))
      writeFileSync(moved, text.replaceAll(`${SHIPPED_CERT_DIR}/`, `${join(dir, 'certs')}/`))
      const { ok, output } = envoyValidate(moved)
      assert.ok(ok, output)
      assert.match(output, /OK/)
    })
  }
})

describe('one Envoy version for the whole project', () => {
  test('the compose lab image names the pinned version (envoy/VERSION)', () => {
    const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string }>
    }
    assert.equal(compose.services.envoy?.image, `envoyproxy/envoy:v${PINNED}`)
  })

  test('envoy-xfcc.yaml is envoy.yaml but for the XFCC lines', () => {
    const strip = (f: string) =>
      readFileSync(join(REPO_ROOT, 'envoy', f), 'utf8')
        .split('\n')
        .filter(
          (l) =>
            !/^#|forward_client_cert_details|set_current_client_cert_details|XFCC|x-forwarded-client-cert|element built|Identity comes from the TLS peer/.test(
              l.trim(),
            ),
        )
        .join('\n')
    assert.equal(strip('envoy-xfcc.yaml'), strip('envoy.yaml'))
  })
})
