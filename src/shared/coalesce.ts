/**
 * Request coalescing: one piece of work per key in flight, whose promise every caller asking
 * for that key while it runs shares. Bounded: `full` says when no new key may start.
 */
export class Coalescer<K, V> {
  private readonly inFlight = new Map<K, Promise<V>>()

  constructor(private readonly limit: number) {}

  /** Keys in flight. */
  get size(): number {
    return this.inFlight.size
  }

  /** No room for another key: the caller answers "overloaded" instead of queueing more. */
  get full(): boolean {
    return this.inFlight.size >= this.limit
  }

  /** The promise of the work in flight for `key`, if any. */
  pending(key: K): Promise<V> | undefined {
    return this.inFlight.get(key)
  }

  /** Records the work started for `key`; call settled(key) when it is done. */
  started(key: K, work: Promise<V>): Promise<V> {
    this.inFlight.set(key, work)
    return work
  }

  /** The work for `key` is done: the next caller starts afresh (or finds a cache entry). */
  settled(key: K): void {
    this.inFlight.delete(key)
  }
}
