import { ReplayStoreUnavailable, type ReplayStore, type ReplayStoreHealth } from './replay-store.js'

export interface MemoryReplayStoreOptions {
  /** Most proof identifiers held at once; when all of them are unexpired, claims are refused. */
  capacity?: number
  /** Milliseconds since the epoch; tests pass their own clock to move time without sleeping. */
  now?: () => number
}

export const DEFAULT_MEMORY_CAPACITY = 500_000

/**
 * The replay store of a single process: a Map from key to expiry time (ms), in insertion order.
 * With one ttl and a clock that does not go back, insertion order is expiry order, so expired
 * entries are always at the head and dropping them there costs amortised O(1) per claim.
 *
 * Callers may still mix ttls, which can leave an expired entry behind an unexpired head. Such an
 * entry never blocks a claim of its own key (expiry is checked on lookup); it only takes room. So
 * when the store is full, and an entry was ever inserted out of expiry order, the whole map is
 * swept once, and not again until something in it can have expired.
 *
 * Fails closed: a full store refuses claims, it never evicts an unexpired entry (that would let
 * a replay through).
 */
export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory'
  readonly capacity: number
  readonly #now: () => number
  readonly #expiries = new Map<string, number>()
  /**
   * The same entries in insertion order, as a queue from `#head`: the head purge reads it, never
   * the Map. A fresh Map iterator starts at the table's first slot and steps over every entry
   * deleted since the table was last rebuilt, which at a steady 300,000 entries made each claim
   * cost 30-80 us (measured), as much as the proof's signature check.
   */
  #queuedKeys: string[] = []
  #queuedExpiries: number[] = []
  #head = 0
  /** Expiry of the last entry inserted, to notice an insertion out of expiry order. */
  #tailExpiry = -Infinity
  /** Some entry may sit behind a later-expiring one, where the head purge cannot reach it. */
  #outOfOrder = false
  /** No entry expires before this, so a sweep earlier would free nothing. */
  #nextSweepAt = Infinity

  constructor ({ capacity = DEFAULT_MEMORY_CAPACITY, now = Date.now }: MemoryReplayStoreOptions = {}) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${capacity}`)
    this.capacity = capacity
    this.#now = now
  }

  get size (): number {
    return this.#expiries.size
  }

  async claimOnce (key: string, ttlSeconds: number): Promise<boolean> {
    if (!(ttlSeconds > 0 && Number.isFinite(ttlSeconds))) throw new RangeError(`ttlSeconds must be a positive number, not ${ttlSeconds}`)
    const now = this.#now()
    const expiresAt = this.#expiries.get(key)
    if (expiresAt !== undefined && expiresAt > now) return false
    // Expired but not yet purged: drop it so the new claim goes to the tail, in expiry order.
    if (expiresAt !== undefined) this.#expiries.delete(key)
    if (this.#isFull(now)) throw new ReplayStoreUnavailable(this.#fullReason())
    this.#insert(key, now + ttlSeconds * 1000)
    return true
  }

  health (): ReplayStoreHealth {
    return this.#isFull(this.#now()) ? { ready: false, reason: this.#fullReason() } : { ready: true }
  }

  async close (): Promise<void> {
    this.#expiries.clear()
    this.#queuedKeys = []
    this.#queuedExpiries = []
    this.#head = 0
  }

  #insert (key: string, expiresAt: number): void {
    if (expiresAt < this.#tailExpiry) this.#outOfOrder = true
    this.#tailExpiry = expiresAt
    this.#nextSweepAt = Math.min(this.#nextSweepAt, expiresAt)
    this.#expiries.set(key, expiresAt)
    this.#queuedKeys.push(key)
    this.#queuedExpiries.push(expiresAt)
  }

  #isFull (now: number): boolean {
    this.#purgeHead(now)
    if (this.#expiries.size < this.capacity) return false
    if (this.#outOfOrder && now >= this.#nextSweepAt) this.#sweep(now)
    return this.#expiries.size >= this.capacity
  }

  /** Drops expired entries from the head; stops at the first live one. Each entry is dropped once. */
  #purgeHead (now: number): void {
    const keys = this.#queuedKeys
    const expiries = this.#queuedExpiries
    let head = this.#head
    while (head < keys.length && expiries[head] <= now) {
      // The Map may hold a newer claim of the same key (claimed again after expiry), or none (swept).
      if (this.#expiries.get(keys[head]) === expiries[head]) this.#expiries.delete(keys[head])
      head++
    }
    // Drop the consumed part once it is most of the queue: amortised O(1) per entry.
    if (head > 1024 && head * 2 > keys.length) {
      this.#queuedKeys = keys.slice(head)
      this.#queuedExpiries = expiries.slice(head)
      head = 0
    }
    this.#head = head
  }

  /** O(n): drops every expired entry, and learns whether what is left is in expiry order. */
  #sweep (now: number): void {
    let previous = -Infinity
    let inOrder = true
    let earliest = Infinity
    for (const [key, expiresAt] of this.#expiries) {
      if (expiresAt <= now) {
        this.#expiries.delete(key)
        continue
      }
      if (expiresAt < previous) inOrder = false
      previous = expiresAt
      earliest = Math.min(earliest, expiresAt)
    }
    this.#outOfOrder = !inOrder
    this.#tailExpiry = previous
    this.#nextSweepAt = earliest
  }

  #fullReason (): string {
    return `the in-memory replay store is full: ${this.capacity} proof identifiers have not expired yet; ` +
      'DPoP proofs are refused until some expire (raise the capacity, or share a Redis between replicas)'
  }
}
