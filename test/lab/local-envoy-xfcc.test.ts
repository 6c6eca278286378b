import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_ROOT } from '../../lab/local/lab.js'
import { envoySkip } from '../helpers/envoy.js'
import { LAB_IDS } from './cases.js'
import { unique } from './fail-closed-cases.js'
import { labRequest } from './https-client.js'
import { type LocalLabControl, startLocalLab } from './local.js'

// envoy/envoy-xfcc.yaml end to end: Envoy terminates mTLS and forwards the verified peer as one
// x-forwarded-client-cert element (SANITIZE_SET); the processor reads identity from it alone.

const XFCC_PROCESSOR = `${readFileSync(join(REPO_ROOT, 'lab', 'config.yaml'), 'utf8')}
identity:
  xfcc:
    enabled: true
`

describe('local lab: XFCC identity through real Envoy (envoy-xfcc.yaml)', {
  skip: envoySkip,
  timeout: 5 * 60_000,
}, () => {
  let l: LocalLabControl
  before(async () => {
    l = await startLocalLab('xfcc', {
      envoyConfig: 'envoy-xfcc.yaml',
      processorConfigText: XFCC_PROCESSOR,
    })
  })
  after(async () => {
    await l?.close()
  })
  const get = (path: string, more: Partial<Parameters<typeof labRequest>[0]> = {}) =>
    labRequest({ port: l.envoyPort, ca: l.ca, svid: l.runner, path, ...more })

  test('the runner SVID is allowed, with its identity set upstream', async () => {
    const res = await get(unique('/api/hello'))
    assert.equal(res.status, 200, res.body)
    assert.equal(res.json().spiffe_id, LAB_IDS.runner)
    assert.equal(l.lab.upstream.count(), 1)
  })

  test('another SVID is denied 403 identity_not_allowed, reaches nothing', async () => {
    const path = unique('/api/hello')
    const res = await get(path, { svid: l.other })
    assert.equal(res.status, 403, res.body)
    assert.equal(res.json().reason, 'identity_not_allowed')
    assert.equal(await l.details(path), 'extproc_authz_identity_not_allowed')
    assert.equal(l.lab.upstream.count(), 1)
  })

  test('a client-sent XFCC naming the runner changes nothing for another SVID (Envoy replaces it)', async () => {
    const forged = `By=spiffe://example.org/envoy;URI=${LAB_IDS.runner}`
    const res = await get(unique('/api/hello'), {
      svid: l.other,
      headers: { 'x-forwarded-client-cert': forged },
    })
    assert.equal(res.status, 403, res.body)
    assert.equal(l.lab.upstream.count(), 1)
  })
  test("Envoy's access log names XFCC as where the processor took the identity from", async () => {
    const path = unique('/api/hello')
    assert.equal((await get(path)).status, 200)
    const line = await l.accessLine(path)
    assert.equal(line.authz.identitySource, 'xfcc')
    assert.equal(line.authz.peer, LAB_IDS.runner)
    assert.equal(line.authz.decision, 'allow')
  })
})
