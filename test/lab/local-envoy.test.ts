import { after, before, describe } from 'node:test'
import { envoySkip } from '../helpers/envoy.js'
import { registerFailClosedCases } from './fail-closed-cases.js'
import { type LocalLabControl, startLocalLab } from './local.js'

// The lab's shared cases through real Envoy (the pinned version) on the shipped envoy.yaml,
// with the processor as a local process: what `make lab-local` runs, asserted.

describe('local lab: fail closed through real Envoy', {
  skip: envoySkip,
  timeout: 10 * 60_000,
}, () => {
  let lab: LocalLabControl
  before(async () => {
    lab = await startLocalLab('fail-closed')
  })
  after(async () => {
    await lab?.close()
  })
  registerFailClosedCases(() => lab)
})
