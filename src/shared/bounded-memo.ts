import { AuthzError } from './errors.js'
/**
 * Rough heap cost of one Map entry and the objects around it (entry, hash slot, headers): a
 * per-entry charge, so a flood of tiny keys is bounded too.
 */
export const ENTRY_OVERHEAD_BYTES = 64

/** Bytes a string may occupy on the heap (V8 stores two-byte strings at 2 bytes a unit). */
export function stringBytes(s: string): number {
  return 2 * s.length
}

interface BoundedMapOptions {
  /** Total charge (keys, values, ENTRY_OVERHEAD_BYTES each) held at most. */
  readonly maxBytes: number
  /** Longer keys are never held (the caller computes their value every time). */
  readonly maxKeyLength: number
}

/**
 * A map bounded by bytes, not entries: every entry is charged its key, its value's size (told
 * by the caller) and ENTRY_OVERHEAD_BYTES, and the map is cleared when the next entry would go
 * over `maxBytes`. Keys longer than `maxKeyLength` (and values too large to fit at all) are
 * refused, so one hostile megabyte costs nothing beyond the request that carried it.
 * Cleared rather than evicted one by one: the values are cheap to recompute, and a clear is
 * O(1) per entry ever added, with no recency bookkeeping on the hit path.
 */
export class BoundedMap<V> {
  private readonly map = new Map<string, V>()
  private held = 0
  /** Entries dropped by clears (cumulative). */
  evictions = 0

  constructor(private readonly opts: BoundedMapOptions) {
    if (!(opts.maxBytes > 0) || !(opts.maxKeyLength > 0)) {
      throw new AuthzError('ERR_INTERNAL', 'BoundedMap: maxBytes and maxKeyLength must be positive')
    }
  }

  get size(): number {
    return this.map.size
  }

  /** The current charge in bytes (never above maxBytes). */
  get bytes(): number {
    return this.held
  }

  get(key: string): V | undefined {
    return this.map.get(key)
  }

  /**
   * Holds `value` when it fits; returns whether it was kept. Replacing a key's value charges
   * it again (per-entry costs are not kept): the map only clears sooner.
   */
  set(key: string, value: V, valueBytes: number): boolean {
    if (key.length > this.opts.maxKeyLength) return false
    const cost = stringBytes(key) + valueBytes + ENTRY_OVERHEAD_BYTES
    if (cost > this.opts.maxBytes) return false
    if (this.held + cost > this.opts.maxBytes) this.clear()
    this.map.set(key, value)
    this.held += cost
    return true
  }

  clear(): void {
    this.evictions += this.map.size
    this.map.clear()
    this.held = 0
  }
}

interface BoundedMemoOptions<T> extends BoundedMapOptions {
  /** Heap bytes a computed value holds beyond the key (default: a string's, else 0). */
  readonly sizeOf?: (value: T) => number
}

function defaultSize(value: unknown): number {
  return typeof value === 'string' ? stringBytes(value) : 0
}

/**
 * Memo of a pure function of a string, bounded by bytes (see BoundedMap). The hot path is a
 * Map lookup; a key too long to memoize is computed every time and never held.
 */
export class BoundedMemo<T> {
  private readonly held: BoundedMap<T>
  private readonly sizeOf: (value: T) => number

  constructor(
    private readonly compute: (key: string) => T,
    opts: BoundedMemoOptions<T>,
  ) {
    this.held = new BoundedMap<T>(opts)
    this.sizeOf = opts.sizeOf ?? defaultSize
  }

  get(key: string): T {
    let value = this.held.get(key)
    if (value === undefined) {
      value = this.compute(key)
      this.held.set(key, value, this.sizeOf(value))
    }
    return value
  }

  /** Bytes held now, at most maxBytes. */
  get bytes(): number {
    return this.held.bytes
  }

  get size(): number {
    return this.held.size
  }
}

/** The outer level of a BoundedPairMap: a Map, or a WeakMap when the first keys are objects. */
interface PairOuter<A, B, V> {
  get(a: A): Map<B, V> | undefined
  set(a: A, inner: Map<B, V>): unknown
}

/**
 * A two-key map bounded by bytes, cleared whole like BoundedMap: every entry is charged what the
 * caller tells, and everything is dropped when the next entry would go over `maxBytes`. Two
 * levels, so a lookup with the strings (or objects) the request already holds builds no key.
 */
export class BoundedPairMap<A, B, V> {
  private outer: PairOuter<A, B, V>
  private held = 0

  constructor(
    private readonly maxBytes: number,
    private readonly newOuter: () => PairOuter<A, B, V> = () => new Map<A, Map<B, V>>(),
  ) {
    this.outer = newOuter()
  }

  get(a: A, b: B): V | undefined {
    return this.outer.get(a)?.get(b)
  }

  /** Holds `value` under (a, b), charged `bytes`; clears everything first when it would not fit. */
  set(a: A, b: B, value: V, bytes: number): void {
    if (this.held + bytes > this.maxBytes) this.clear()
    let inner = this.outer.get(a)
    if (inner === undefined) {
      inner = new Map<B, V>()
      this.outer.set(a, inner)
    }
    inner.set(b, value)
    this.held += bytes
  }

  /** The current charge in bytes. */
  get bytes(): number {
    return this.held
  }

  clear(): void {
    this.outer = this.newOuter()
    this.held = 0
  }
}
