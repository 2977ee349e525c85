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

/**
 * Admission to the verified-token cache: a token gets in on its second verification. A token used
 * once (a flood of distinct tokens, or a user's token seen a single time) then never pushes out
 * the tokens that are being reused, and leaves only a small number behind, not its claims. A
 * reused token pays one extra verification in its lifetime. All numbers are forgotten when
 * `capacity` is reached. Two tokens that share a number (rare) may be admitted a use early or a
 * use late: either way only a token that passed every check is ever cached.
 */
export class SecondSighting {
  readonly #seen = new Set<number>()
  constructor (readonly capacity: number) {}

  /** True when this token was offered before (since the last reset): cache it now. */
  admit (token: string): boolean {
    const print = fingerprint(token)
    if (this.#seen.delete(print)) return true
    if (this.#seen.size >= this.capacity) this.#seen.clear()
    this.#seen.add(print)
    return false
  }
}

/**
 * 30 bits from the token's last characters: the end of its signature, which almost surely differs
 * between two tokens. 30 bits keep the number a small integer, which V8 stores without boxing.
 */
function fingerprint (token: string): number {
  let print = 0
  for (let i = Math.max(0, token.length - 8); i < token.length; i++) print = (print * 31 + token.charCodeAt(i)) & 0x3fffffff
  return print
}
