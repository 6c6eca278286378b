// Seeded mutations of a bootstrap for the differential and no-crash tests: drop a field, break a
// duration, misspell a key, swap a value's type, push a number out of range, empty a list or a
// string. One mutation per document, at a node chosen uniformly among all of them.

type Json = Record<string, unknown>

/** mulberry32: small, fast, and the same sequence on every machine for a given seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Slot {
  readonly parent: Json | unknown[]
  readonly key: string | number
}

function slots(value: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push({ parent: value, key: i })
      slots(v, out)
    })
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push({ parent: value as Json, key: k })
      slots(v, out)
    }
  }
  return out
}

const DURATIONS = ['0s', '-1s', '7200s', 'abc', '1', '0.0000000001s', '315576000001s']
const NUMBERS = [70000, -1, 0, 4294967296, 1.5, '12x']
const STRINGS = ['', ' ', 'bad\nvalue', 'x'.repeat(300)]

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T
}

function get(slot: Slot): unknown {
  return (slot.parent as Record<string | number, unknown>)[slot.key]
}

function set(slot: Slot, value: unknown): void {
  ;(slot.parent as Record<string | number, unknown>)[slot.key] = value
}

/** A deep copy of `doc` with one mutation, and a line saying what it was. */
export function mutate(doc: unknown, rand: () => number): { value: unknown; what: string } {
  const value = structuredClone(doc)
  const all = slots(value)
  if (all.length === 0) return { value: {}, what: 'emptied' }
  const slot = pick(rand, all)
  const current = get(slot)
  const where = String(slot.key)
  const kinds = ['drop', 'misspell', 'swap', 'value', 'value']
  const kind = pick(rand, kinds)
  if (kind === 'drop') {
    if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1)
    else delete (slot.parent as Json)[slot.key as string]
    return { value, what: `drop ${where}` }
  }
  if (kind === 'misspell' && !Array.isArray(slot.parent) && typeof slot.key === 'string') {
    const parent = slot.parent as Json
    const wrong = rand() < 0.5 ? `${slot.key}s` : slot.key.slice(0, -1) || `${slot.key}_`
    delete parent[slot.key]
    parent[wrong] = current
    return { value, what: `rename ${where} -> ${wrong}` }
  }
  if (kind === 'swap') {
    const swapped =
      typeof current === 'string'
        ? rand() < 0.5
          ? 42
          : { value: current }
        : typeof current === 'number'
          ? String(current) === '0'
            ? 'zero'
            : 'abc'
          : typeof current === 'boolean'
            ? 'yes'
            : Array.isArray(current)
              ? (current[0] ?? {})
              : current !== null && typeof current === 'object'
                ? [current]
                : 'null'
    set(slot, swapped)
    return { value, what: `swap type of ${where}` }
  }
  // A value of the same shape that a validate rule may refuse.
  let next: unknown
  if (typeof current === 'string' && /^-?\d+(\.\d+)?s$/.test(current)) next = pick(rand, DURATIONS)
  else if (typeof current === 'number') next = pick(rand, NUMBERS)
  else if (typeof current === 'string') next = pick(rand, STRINGS)
  else if (Array.isArray(current)) next = []
  else if (current !== null && typeof current === 'object') next = {}
  else next = !current
  set(slot, next)
  return { value, what: `set ${where} = ${JSON.stringify(next).slice(0, 40)}` }
}
