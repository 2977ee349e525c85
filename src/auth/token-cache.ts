import { VerifiedToken } from './claims.js'
import { KeysUnavailable, TokenNotYetValid, UnknownKey, type AuthRejection } from './errors.js'

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

/** What the auth hook decides about a token: verified, or the rejection that refuses it. */
export type Verdict = VerifiedToken | AuthRejection

/** How often the verdict cache answered, since it was made: for the metrics. */
export interface TokenCacheStats {
  hits: number
  misses: number
}

/** Rejections that time or the issuer's key set can change: a token refused so is checked again. */
const PASSING_REJECTIONS = [TokenNotYetValid, UnknownKey, KeysUnavailable]
/** Rejections are small to recompute; keep few so junk tokens cannot hold much memory. */
const MAX_REMEMBERED_REJECTIONS = 1024

/**
 * The verdicts that sit in front of verification: a token verified a second time is answered from
 * memory until it expires, and a repeated bad token is refused from memory, so the common cases
 * cost one map lookup. Only verdicts that cannot change with time are kept, and every verdict tied
 * to a key is forgotten when that key leaves the set.
 */
export class VerdictCache {
  readonly #verified: BoundedCache<VerifiedToken>
  readonly #admission: SecondSighting
  readonly #rejected: BoundedCache<AuthRejection>
  // Plain counters, read when metrics are scraped: one increment per call, nothing allocated.
  #hits = 0
  #misses = 0

  /** `capacity` verified tokens are kept; 0 turns both caches off. */
  constructor (capacity: number) {
    this.#verified = new BoundedCache(capacity)
    this.#admission = new SecondSighting(capacity)
    this.#rejected = new BoundedCache(Math.min(capacity, MAX_REMEMBERED_REJECTIONS))
  }

  /** The verdict remembered for this token, if any: verified and unexpired, or refused. Counts a hit or a miss. */
  known (token: string): Verdict | undefined {
    const known = this.#verified.get(token)
    if (known !== undefined) {
      if (known.expiresAt > Date.now()) {
        this.#hits++
        return known
      }
      this.#verified.delete(token)
    }
    this.#misses++
    return this.#rejected.get(token)
  }

  /** Keeps a fresh verdict: a verified token from its second verification on, a lasting rejection at once. */
  remember (token: string, verdict: Verdict): void {
    if (verdict instanceof VerifiedToken) {
      if (this.#admission.admit(token)) this.#verified.set(token, verdict)
    } else if (!PASSING_REJECTIONS.some(Rejection => verdict instanceof Rejection)) {
      this.#rejected.set(token, verdict)
    }
  }

  /** Forgets every verdict reached with these keys of this issuer: their tokens must be checked again. */
  retire (issuer: string, kids: readonly string[]): void {
    const retired = new Set(kids)
    this.#verified.deleteWhere(entry => entry.issuer === issuer && retired.has(entry.kid))
    this.#rejected.clear()
  }

  stats (): TokenCacheStats {
    return { hits: this.#hits, misses: this.#misses }
  }
}
