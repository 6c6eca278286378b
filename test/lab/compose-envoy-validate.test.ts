import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_ROOT } from '../helpers/lab-files.js'
import { certsOnly, composeOutput, down } from './compose.js'

// `envoy --mode validate` on every shipped config, with the pinned Envoy image of the lab and
// the lab's certificates in place (validation loads the certificate and key files too).
// docker-compose.yml mounts ./envoy at /etc/envoy/shipped in the envoy service.

const SHIPPED = readdirSync(join(REPO_ROOT, 'envoy'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()

describe('Envoy validates every shipped config', { timeout: 20 * 60_000 }, () => {
  before(() => certsOnly())
  after(() => down())

  test('there are shipped configs', () => {
    assert.ok(SHIPPED.includes('envoy.yaml'), SHIPPED.join(', '))
  })

  for (const file of SHIPPED) {
    test(`envoy --mode validate envoy/${file}`, () => {
      // Exit 0 is the verdict (composeOutput throws otherwise); Envoy also says "... OK".
      const { stdout, stderr } = composeOutput([
        'run',
        '--rm',
        '--no-deps',
        '-T',
        'envoy',
        'envoy',
        '--mode',
        'validate',
        '-c',
        `/etc/envoy/shipped/${file}`,
      ])
      assert.match(`${stdout}\n${stderr}`, new RegExp(`'/etc/envoy/shipped/${file}' OK`))
    })
  }
})
