import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { describe, test } from 'node:test'
import type { RequestFacts } from '../../src/authz/request-facts.js'
import { BATCH_MS } from '../../src/shared/event-loop-batches.js'
import { RunnerTokensSchema } from '../../src/tokens/config-schema.js'
import {
  decryptRunnerToken,
  EVENT_LOOP_MAX_BITS,
  tokenOptions,
} from '../../src/tokens/decrypt-runner-token.js'
import { importRunnerKey, KeyLoadError, type Keyring } from '../../src/tokens/keyring.js'
import { createRunnerJwe, createRunnerToken } from '../../src/tokens/runner.js'
import { decryptionSlots, RunnerTokenResolver } from '../../src/tokens/runner-token-resolver.js'

const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})

async function ring(pem: string = privateKey): Promise<Keyring> {
  const k = await importRunnerKey(pem, 'mem.pem')
  return { current: k, keys: [k], byKid: new Map([[k.kid, k]]), loadedAt: 0 }
}

/** Counts event-loop turns (a setImmediate chain) until stopped. */
function turnCounter(): { turns(): number; stop(): void } {
  let turns = 0
  let ticking = true
  const tick = () => {
    turns++
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)
  return {
    turns: () => turns,
    stop: () => {
      ticking = false
    },
  }
}

/** A resolver with one decryption slot (a core to itself): RSA on the event loop. */
/**
 * The resolver's scheduler clock, moved only by the test: a batch ends when the test says its
 * BATCH_MS have passed, never because a busy machine made an RSA operation slow.
 */
function manualClock(): { now(): number; advance(ms: number): void } {
  let t = 0
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
  }
}

/** A process with one core to itself: RSA on the event loop. The clock stands still by default. */
async function oneSlot(
  decrypt: typeof decryptRunnerToken = decryptRunnerToken,
  clock: () => number = manualClock().now,
): Promise<RunnerTokenResolver> {
  return new RunnerTokenResolver(
    await ring(),
    RunnerTokensSchema.parse({ private_keys: ['x'] }),
    Date.now,
    1,
    decrypt,
    clock,
  )
}

/** Resolves after `n` event-loop turns: a bound counted in turns, not milliseconds. */
function afterTurns(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(step, left - 1))
    setImmediate(step, n - 1)
  })
}

/** All the resolver reads of a request: its bearer value. */
function facts(bearer: string | undefined): Pick<RequestFacts, 'bearer'> {
  return { bearer }
}

describe('RunnerTokenResolver', () => {
  test('keys under 2048 bits are refused with a clear error', async () => {
    const small = generateKeyPairSync('rsa', {
      modulusLength: 1024,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    })
    await assert.rejects(
      importRunnerKey(small.privateKey, 'small.pem'),
      (e: unknown) =>
        e instanceof KeyLoadError && /1024 bits is too small: at least 2048/.test(e.message),
    )
  })

  test('cache: a miss decrypts once, a hit answers synchronously', async () => {
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'] }),
    )
    const t = createRunnerToken(publicKey, 'sess-1')
    const first = r.resolve(facts(t))
    assert.ok(first instanceof Promise)
    // Concurrent requests with the same token share one decryption.
    const second = r.resolve(facts(t))
    assert.ok(second instanceof Promise)
    assert.deepEqual(await first, await second)
    const hit = r.resolve(facts(t))
    assert.ok(!(hit instanceof Promise), 'a cached token resolves synchronously')
    assert.equal(hit.state, 'valid')
    const s = r.stats()
    assert.equal(s.decryptions, 1)
    assert.equal(s.coalesced, 1)
    assert.equal(s.hits, 1)
  })

  test('at most one decryption per usable core runs at once; the rest queue and all finish', async () => {
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'] }),
    )
    const cores = Math.max(1, availableParallelism())
    const n = cores + 3
    const answers = Array.from({ length: n }, (_, i) =>
      r.resolve(facts(createRunnerToken(publicKey, `sess-q${i}`))),
    )
    assert.equal(r.stats().running, cores)
    assert.equal(r.stats().pending, n)
    const done = await Promise.all(answers)
    assert.deepEqual(
      done.map((c) => (c.state === 'valid' ? c.sessionId : c.state)),
      Array.from({ length: n }, (_, i) => `sess-q${i}`),
    )
    assert.equal(r.stats().running, 0)
    assert.equal(r.stats().decryptions, n)
  })

  test('with workers, each process takes its share of the cores (at least one slot)', async () => {
    const cores = Math.max(1, availableParallelism())
    assert.equal(decryptionSlots(1), cores)
    assert.equal(decryptionSlots(2), Math.max(1, Math.floor(cores / 2)))
    assert.equal(decryptionSlots(cores * 4), 1)
    const r = await oneSlot()
    const answers = [0, 1, 2].map((i) =>
      r.resolve(facts(createRunnerToken(publicKey, `sess-w${i}`))),
    )
    assert.equal(r.stats().running, 1)
    assert.equal((await Promise.all(answers)).filter((c) => c.state === 'valid').length, 3)
  })

  test('one slot (a core to itself), no arrival count: RSA on the event loop, one decryption per turn', async () => {
    const r = await oneSlot()
    // Each decryption records the event-loop turn it finished in.
    const counter = turnCounter()
    const finishedIn: number[] = []
    r.onDecryption = () => finishedIn.push(counter.turns())
    const sessions = ['sess-i0', 'sess-i1', 'sess-i2', 'sess-i3', 'sess-i4']
    const tokens = sessions.map((s) => createRunnerToken(publicKey, s))
    const answers = tokens.map((t) => r.resolve(facts(t)))
    // Nothing runs in the turn that asked: a burst of misses cannot hold up the current turn.
    assert.equal(finishedIn.length, 0)
    const cachedDuring = r.resolve(facts(tokens[0] as string))
    assert.ok(cachedDuring instanceof Promise, 'coalesced with the pending decryption')
    const done = await Promise.all(answers)
    counter.stop()
    assert.deepEqual(
      done.map((c) => (c.state === 'valid' ? c.sessionId : c.state)),
      sessions,
    )
    assert.equal(finishedIn.length, sessions.length)
    for (let i = 1; i < finishedIn.length; i++) {
      assert.ok(
        (finishedIn[i] as number) > (finishedIn[i - 1] as number),
        `two decryptions in one turn: ${finishedIn.join(',')}`,
      )
    }
    // Invalid tokens fail the same way on this path as on the thread pool.
    const bad = createRunnerToken(publicKey, 'sess-x').replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))
    const failed = await r.resolve(facts(bad))
    assert.deepEqual(failed, {
      state: 'failed',
      reason: 'token_invalid',
      detail: 'runner token: token_invalid',
    })
  })

  test('one slot, only decryptions arriving: several share a turn (up to BATCH_MS)', async () => {
    const r = await oneSlot()
    // Every stream that started asked for a decryption: nothing else is waiting for the loop.
    let started = 0
    r.streamsStarted = () => started
    const counter = turnCounter()
    const finishedIn: number[] = []
    r.onDecryption = () => finishedIn.push(counter.turns())
    const sessions = Array.from({ length: 8 }, (_, i) => `sess-b${i}`)
    const answers = sessions.map((s) => {
      started++
      return r.resolve(facts(createRunnerToken(publicKey, s)))
    })
    assert.equal(finishedIn.length, 0, 'nothing runs in the turn that asked')
    const done = await Promise.all(answers)
    counter.stop()
    assert.deepEqual(
      done.map((c) => (c.state === 'valid' ? c.sessionId : c.state)),
      sessions,
    )
    // The clock stood still: the whole burst was one batch, in one turn.
    assert.equal(
      new Set(finishedIn).size,
      1,
      `one decryption per turn although nothing else arrived: ${finishedIn.join(',')}`,
    )
  })

  test('one slot, batched: a batch ends once BATCH_MS of the clock have passed', async () => {
    const clock = manualClock()
    const counter = turnCounter()
    const decryptedIn: number[] = []
    const r = await oneSlot(async (...args) => {
      const outcome = await decryptRunnerToken(...args)
      decryptedIn.push(counter.turns())
      clock.advance(3) // each decryption "takes" 3 ms: two fit a 5 ms batch, a third does not
      return outcome
    }, clock.now)
    let started = 0
    r.streamsStarted = () => started
    const answers = Array.from({ length: 8 }, (_, i) => {
      started++
      return r.resolve(facts(createRunnerToken(publicKey, `sess-e${i}`)))
    })
    const done = await Promise.all(answers)
    counter.stop()
    assert.ok(done.every((c) => c.state === 'valid'))
    assert.equal(BATCH_MS, 5)
    const perTurn = new Map<number, number>()
    for (const t of decryptedIn) perTurn.set(t, (perTurn.get(t) ?? 0) + 1)
    assert.deepEqual([...perTurn.values()], [2, 2, 2, 2], `turns: ${decryptedIn.join(',')}`)
  })

  test('one slot, batched: a turn answers only after all its decryptions', async () => {
    const events: string[] = []
    const counter = turnCounter()
    const r = await oneSlot(async (...args) => {
      const outcome = await decryptRunnerToken(...args)
      events.push(`${counter.turns()} decrypt`)
      return outcome
    })
    let started = 0
    r.streamsStarted = () => started
    const answers = Array.from({ length: 8 }, (_, i) => {
      started++
      const answer = r.resolve(facts(createRunnerToken(publicKey, `sess-g${i}`)))
      return Promise.resolve(answer).then((c) => {
        events.push(`${counter.turns()} answer`)
        return c
      })
    })
    const done = await Promise.all(answers)
    counter.stop()
    assert.ok(done.every((c) => c.state === 'valid'))
    // Per turn: every decryption, then every answer (none cooled by an RSA operation).
    const turns = new Map<string, string[]>()
    for (const e of events) {
      const [turn = '', kind = ''] = e.split(' ')
      turns.set(turn, [...(turns.get(turn) ?? []), kind])
    }
    assert.ok(
      [...turns.values()].some((kinds) => kinds.length > 2),
      'no turn held a batch',
    )
    for (const [turn, kinds] of turns) {
      const firstAnswer = kinds.indexOf('answer')
      assert.ok(
        firstAnswer !== -1 && !kinds.slice(firstAnswer).includes('decrypt'),
        `turn ${turn}: ${kinds.join(',')}`,
      )
    }
  })

  test('one slot, batched: a thread-pool job next in the batch does not hold the answers before it', async () => {
    let finishSlow: (() => void) | undefined
    const slow = createRunnerToken(publicKey, 'sess-slow')
    const counter = turnCounter()
    let slowStartedIn: number | undefined
    let fastDecryptedIn: number | undefined
    const r = await oneSlot(async (token, ...rest) => {
      const outcome = await decryptRunnerToken(token, ...rest)
      // An RSA-4096 key's job runs on the thread pool: it ends turns later.
      if (token === slow) {
        slowStartedIn = counter.turns()
        await new Promise<void>((resolve) => (finishSlow = resolve))
      } else fastDecryptedIn = counter.turns()
      return outcome
    })
    r.streamsStarted = () => 0
    const fast = r.resolve(facts(createRunnerToken(publicKey, 'sess-fast')))
    const held = r.resolve(facts(slow))
    // Bounded in turns: the fast answer is released at the end of its turn; before the fix it
    // waited for the slow job, which never ends here until the test lets it.
    const first = await Promise.race([
      Promise.resolve(fast).then((c) => (c.state === 'valid' ? c.sessionId : c.state)),
      afterTurns(50).then(() => 'held until the slow job ended'),
    ])
    counter.stop()
    assert.equal(first, 'sess-fast')
    assert.ok(finishSlow !== undefined, 'the slow job started')
    assert.equal(slowStartedIn, fastDecryptedIn, 'the slow job started in the same batch')
    finishSlow()
    const last = await held
    assert.equal(last.state === 'valid' && last.sessionId, 'sess-slow')
  })

  test('one slot, other streams arriving: back to one decryption per turn', async () => {
    const r = await oneSlot()
    // A stream that needs no decryption (a cached token, another route) arrives every turn.
    let started = 0
    const counter = turnCounter()
    r.streamsStarted = () => started + counter.turns()
    const finishedIn: number[] = []
    r.onDecryption = () => finishedIn.push(counter.turns())
    const answers = Array.from({ length: 6 }, (_, i) => {
      started++
      return r.resolve(facts(createRunnerToken(publicKey, `sess-o${i}`)))
    })
    await Promise.all(answers)
    counter.stop()
    assert.equal(finishedIn.length, 6)
    for (let i = 1; i < finishedIn.length; i++) {
      assert.ok(
        (finishedIn[i] as number) > (finishedIn[i - 1] as number),
        `two decryptions in one turn while other streams arrived: ${finishedIn.join(',')}`,
      )
    }
  })

  test('only keys up to EVENT_LOOP_MAX_BITS are decrypted on the event loop', async () => {
    const big = generateKeyPairSync('rsa', {
      modulusLength: 4096,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    const opts = tokenOptions(RunnerTokensSchema.parse({ private_keys: ['x'] }), true)
    // On this thread the RSA work is done inside the call, so the answer settles within
    // microtasks; a thread-pool job can only be delivered by a later event-loop turn (its poll
    // phase), however fast the pool is. Counting turns instead failed with both cores busy:
    // a starved event loop saw the pool's result in its very next poll.
    const settlesWithoutATurn = async (pem: string, pub: string) => {
      const keys = await ring(pem)
      const token = createRunnerToken(pub, 'sess-b')
      let settled = false
      const answer = decryptRunnerToken(token, keys, opts).then((o) => {
        settled = true
        return o
      })
      for (let i = 0; i < 100; i++) await null // microtasks only: no turn passes
      const inMicrotasks = settled
      const outcome = await answer
      assert.deepEqual(outcome.ok && outcome.sessionId, 'sess-b')
      return inMicrotasks
    }
    assert.equal(EVENT_LOOP_MAX_BITS, 2048)
    assert.equal(
      await settlesWithoutATurn(privateKey, publicKey),
      true,
      'RSA-2048: on the event loop',
    )
    assert.equal(
      await settlesWithoutATurn(big.privateKey, big.publicKey),
      false,
      'RSA-4096: on the thread pool, delivered by a later turn',
    )
  })

  test('TTL: entries expire, and never outlive a JWE exp', async () => {
    let now = Date.now()
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'], cache: { ttl_seconds: 300 } }),
      () => now,
    )
    const jwe = await createRunnerJwe(publicKey, 'sess-j', { ttlSeconds: 60 })
    assert.equal((await r.resolve(facts(jwe))).state, 'valid')
    assert.ok(!(r.resolve(facts(jwe)) instanceof Promise))
    now += 61_000 + 30_000 // past exp and the clock tolerance
    const after = await r.resolve(facts(jwe))
    assert.equal(after.state === 'failed' && after.reason, 'token_expired')
  })

  test('eviction: the cache is bounded', async () => {
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'], cache: { max_entries: 2 } }),
    )
    for (const s of ['a1', 'a2', 'a3']) await r.resolve(facts(createRunnerToken(publicKey, s)))
    assert.equal(r.stats().cacheEvictions, 1)
  })

  test('queue full: overloaded at once, without decrypting', async () => {
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'], max_pending_decryptions: 2 }),
    )
    const results = ['q1', 'q2', 'q3', 'q4'].map((s) =>
      r.resolve(facts(createRunnerToken(publicKey, s))),
    )
    assert.ok(results[0] instanceof Promise && results[1] instanceof Promise)
    for (const x of results.slice(2)) {
      assert.ok(!(x instanceof Promise))
      assert.deepEqual(x, {
        state: 'failed',
        reason: 'overloaded',
        detail: 'decryption queue full',
      })
    }
    await Promise.all(results)
    assert.equal(r.stats().overloaded, 2)
  })

  test('max_token_bytes is configurable: longer tokens are refused before any crypto', async () => {
    const r = new RunnerTokenResolver(
      await ring(),
      RunnerTokensSchema.parse({ private_keys: ['x'], max_token_bytes: 512 }),
    )
    const raw = createRunnerToken(publicKey, 'sess-1') // 2048-bit: 344 base64 characters
    const valid = await r.resolve(facts(raw))
    assert.equal(valid.state, 'valid')
    // 513 characters: a valid token with base64 filler, and a 4096-bit-sized one (684).
    for (const t of [raw + 'A'.repeat(513 - raw.length), 'A'.repeat(684)]) {
      const x = r.resolve(facts(t))
      assert.ok(!(x instanceof Promise), 'refused synchronously')
      assert.deepEqual(x, {
        state: 'failed',
        reason: 'token_invalid',
        detail: 'runner token: token_invalid',
      })
    }
    assert.equal(r.stats().decryptions, 1, 'only the short token was decrypted')
    assert.throws(() => RunnerTokensSchema.parse({ private_keys: ['x'], max_token_bytes: 100 }))
  })
})

describe('JWKS key files', () => {
  test('a JWKS of RSA private keys loads; its kid is kept; a public-only JWK is refused', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { createPrivateKey, createPublicKey } = await import('node:crypto')
    const { loadKeyring } = await import('../../src/tokens/keyring.js')
    const dir = await mkdtemp(join(tmpdir(), 'jwks-'))
    const jwk = { ...createPrivateKey(privateKey).export({ format: 'jwk' }), kid: 'runner-2026-11' }
    await writeFile(join(dir, 'keys.json'), JSON.stringify({ keys: [jwk] }))
    const ring = await loadKeyring([join(dir, 'keys.json')])
    assert.equal(ring.current.kid, 'runner-2026-11')
    const r = new RunnerTokenResolver(ring, RunnerTokensSchema.parse({ private_keys: ['x'] }))
    const jwe = await createRunnerJwe(publicKey, 'sess-k', {
      ttlSeconds: 60,
      kid: 'runner-2026-11',
    })
    const out = await r.resolve(facts(jwe))
    assert.equal(out.state === 'valid' && out.sessionId, 'sess-k')
    await writeFile(
      join(dir, 'pub.json'),
      JSON.stringify({ keys: [createPublicKey(publicKey).export({ format: 'jwk' })] }),
    )
    await assert.rejects(loadKeyring([join(dir, 'pub.json')]), /expected an RSA private key/)
  })
})
