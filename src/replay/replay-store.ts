/**
 * Where DPoP proof identifiers (`jti`) are remembered, so a proof is accepted once. One process
 * uses the in-memory store; replicas and cluster workers share one Redis, so a proof replayed to
 * another replica is refused too.
 */
export interface ReplayStore {
  /**
   * Records `key` for `ttlSeconds`, atomically: true the first time, false when it is already
   * there (a replay). Rejects (`ReplayStoreUnavailable`) when the store cannot answer in time or
   * is full: the caller fails closed.
   */
  claimOnce: (key: string, ttlSeconds: number) => Promise<boolean>
  /** For readiness: whether the store can answer now, and why not when it cannot. */
  health: () => ReplayStoreHealth
  /** Which store this is, for logs, readiness and metrics. */
  readonly kind: 'memory' | 'redis'
  close: () => Promise<void>
}

export interface ReplayStoreHealth {
  ready: boolean
  /** Why the store cannot answer, in words an operator can act on; never a secret (no credentials from REDIS_URL). */
  reason?: string
}

/** The store could not record a proof: the request it came with is refused with a 503, never let through. */
export class ReplayStoreUnavailable extends Error {
  constructor (reason: string) {
    super(reason)
    this.name = 'ReplayStoreUnavailable'
  }
}
