import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Debian's python3-grpcio is installed for /usr/bin/python3; PYTHON overrides. */
export function findPython(): string {
  for (const candidate of [process.env.PYTHON, '/usr/bin/python3', 'python3']) {
    if (candidate === undefined) continue
    const r = spawnSync(candidate, ['-c', 'import grpc'], { stdio: 'ignore' })
    if (r.status === 0) return candidate
  }
  throw new Error(
    'Python grpcio is missing: install it (Debian: apt-get install -y python3-grpcio) or set ' +
      'PYTHON to an interpreter that can `import grpc`. CI (.ci/run) installs it.',
  )
}

/** A script in test/interop (not compiled): dist/test/helpers -> test/interop. */
export function interopScript(name: string): string {
  return fileURLToPath(new URL(`../../../test/interop/${name}`, import.meta.url))
}
