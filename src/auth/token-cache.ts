/**
 * A bounded map from token to result, oldest entry out first. A plain Map keeps insertion order,
 * so eviction is O(1) and a hit costs one hash lookup: no re-ordering on the hot path.
 */
export class BoundedCache<V> {
  readonly #entries = new Map<string, V>()
  constructor (readonly capacity: number) {}

  get (token: string): V | undefined {
    return this.#entries.get(token)
  }

  set (token: string, value: V): void {
    if (this.capacity === 0) return
    if (this.#entries.size >= this.capacity && !this.#entries.has(token)) {
      this.#entries.delete(this.#entries.keys().next().value as string)
    }
    this.#entries.set(token, value)
  }

  delete (token: string): void {
    this.#entries.delete(token)
  }

  /** Drops every entry the predicate picks; used when keys leave the issuer's set. */
  deleteWhere (predicate: (value: V) => boolean): void {
    for (const [token, value] of this.#entries) {
      if (predicate(value)) this.#entries.delete(token)
    }
  }

  clear (): void {
    this.#entries.clear()
  }
}
