import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Polls `condition` until it holds; throws naming `what` after `timeoutMs`. The deadline only
 * ends a hang: it is generous (a loaded machine may take seconds), and nothing asserts speed.
 * Use it instead of a fixed sleep before an assertion.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}
