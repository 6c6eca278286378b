/**
 * A bounded map that forgets the least recently used entry first (Map keeps insertion order).
 * Not a BoundedMap: its entries (decrypted tokens, registry answers) are costly to remake, so a
 * flood of new keys must evict one at a time and never drop the hot ones all at once.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()

  /** Entries oldest first, without touching recency. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries()
  }
  evictions = 0

  constructor(private readonly max: number) {}

  get size(): number {
    return this.map.size
  }

  get(key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next()
      if (!oldest.done) {
        this.map.delete(oldest.value)
        this.evictions++
      }
    }
  }

  delete(key: K): void {
    this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }
}
