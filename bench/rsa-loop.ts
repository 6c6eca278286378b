import {
  constants,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

// Node's own ceiling for the uncached path: privateDecrypt (RSA-OAEP, SHA-256, the server's
// operation) in a loop and nothing else. Usage: rsa-loop.js <private key PEM> <seconds>.
// Prints READY once the key is loaded, starts on a line from stdin (so the caller can start
// `openssl speed` at the same moment), and prints {"ops":n,"cpuS":s} at the end.

const [keyFile = '', seconds = '3'] = process.argv.slice(2)
const privateKey = createPrivateKey(readFileSync(keyFile))
const publicKey = createPublicKey(privateKey)
const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const
// Distinct ciphertexts, as distinct tokens would be (RSA blinding makes each operation new anyway).
const ciphertexts = Array.from({ length: 64 }, (_, i) =>
  publicEncrypt({ key: publicKey, ...OAEP }, Buffer.from(`session-${i}`)),
)
const key = { key: privateKey, ...OAEP }

process.stdout.write('READY\n')
createInterface({ input: process.stdin }).once('line', () => {
  const until = performance.now() + Number(seconds) * 1000
  const cpu0 = process.cpuUsage()
  let ops = 0
  while (performance.now() < until) {
    privateDecrypt(key, ciphertexts[ops % ciphertexts.length] as Buffer)
    ops++
  }
  const cpu = process.cpuUsage(cpu0)
  process.stdout.write(`${JSON.stringify({ ops, cpuS: (cpu.user + cpu.system) / 1e6 })}\n`)
  process.exit(0)
})
