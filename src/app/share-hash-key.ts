import cluster, { type Worker } from 'node:cluster'
import { AuthzError } from '../shared/errors.js'
import { MIN_HASH_KEY_BYTES } from '../shared/session-hasher.js'

// Without logging.hash_key_file, the primary makes one random log hash key per start and every
// worker uses it, so all workers hash a session alike. The key goes over the cluster IPC
// channel, asked for by the worker once it listens: not in the environment (readable in
// /proc/<pid>/environ and inherited by anything the worker runs), and never a message that
// arrives before a listener is there to take it.

const REQUEST = 'extproc-authz:log-hash-key?'
const ANSWER = 'extproc-authz:log-hash-key'

/** How long a worker waits for the primary's answer before its start fails. */
const HASH_KEY_WAIT_MS = 10_000

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

/** Primary side: answers every worker that asks with `key`. Returns the function that stops. */
export function serveHashKey(key: Uint8Array): () => void {
  const encoded = Buffer.from(key).toString('base64')
  const onMessage = (worker: Worker, msg: unknown) => {
    if (isRecord(msg) && msg.type === REQUEST) worker.send({ type: ANSWER, key: encoded })
  }
  cluster.on('message', onMessage)
  return () => cluster.off('message', onMessage)
}

function unshared(problem: string): AuthzError {
  return new AuthzError('ERR_HASH_KEY_UNSHARED', problem)
}

/** Worker side: the primary's key. Rejects when there is no primary or it does not answer. */
export function askPrimaryForHashKey(waitMs = HASH_KEY_WAIT_MS): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const send = process.send?.bind(process)
    if (send === undefined) {
      reject(unshared('no cluster primary to ask for the log hash key'))
      return
    }
    const done = () => {
      clearTimeout(timer)
      process.off('message', onMessage)
    }
    const onMessage = (msg: unknown) => {
      if (!isRecord(msg) || msg.type !== ANSWER || typeof msg.key !== 'string') return
      done()
      const key = Buffer.from(msg.key, 'base64')
      if (key.length < MIN_HASH_KEY_BYTES) reject(unshared('the primary sent a short log hash key'))
      else resolve(key)
    }
    const timer = setTimeout(() => {
      done()
      reject(unshared(`the primary did not send the log hash key within ${waitMs} ms`))
    }, waitMs)
    process.on('message', onMessage)
    try {
      send({ type: REQUEST })
    } catch (err) {
      done()
      reject(err)
    }
  })
}
