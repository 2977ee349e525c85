import { MemoryReplayStore } from './memory-store.js'
import { RedisReplayStore, type ReplayStoreLog } from './redis-store.js'
import type { ReplayStore, ReplayStoreHealth } from './replay-store.js'

export interface ReplayStoreOptions {
  /** Set: every replica shares this Redis. Unset: this process remembers proofs on its own. */
  redisUrl?: string
  /** Capacity of the in-memory store; ignored with Redis. */
  capacity?: number
  log?: ReplayStoreLog
}

/** Redis when a URL is given (it starts connecting now), otherwise memory. */
export function createReplayStore ({ redisUrl, capacity, log }: ReplayStoreOptions): ReplayStore {
  if (redisUrl !== undefined && redisUrl !== '') return new RedisReplayStore({ url: redisUrl, log })
  return new MemoryReplayStore({ capacity })
}

/**
 * For start-up: gives the store up to `timeoutMs` to become ready, then reports its health. Never
 * rejects: a Redis that is down must not stop the service from starting (DPoP requests get 503
 * and readiness says why until it is back; the store keeps reconnecting by itself).
 */
export async function waitForReplayStore (store: ReplayStore, timeoutMs: number): Promise<ReplayStoreHealth> {
  if (store instanceof RedisReplayStore) await store.waitUntilConnected(timeoutMs)
  return store.health()
}

/**
 * What is wrong with a REDIS_URL, or undefined when it is usable, said after the variable's name
 * ("REDIS_URL <problem>"). The message never repeats the URL: it may hold a password.
 */
export function redisUrlProblem (value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'is not a URL (expected redis://[user:password@]host[:port][/db] or rediss://...)'
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    // Not even the scheme is repeated: a URL typed without one starts with the user name.
    return 'must start with redis:// or rediss://'
  }
  if (url.hostname === '') return 'names no host (expected redis://host:port)'
  // ioredis decodes the user name and password, and throws on a stray `%` (as in `:100%@host`).
  if (!isDecodable(url.username) || !isDecodable(url.password)) return 'has a user name or password with a "%" that is not percent-encoding (write % as %25)'
  if (!/^(\/\d*)?$/.test(url.pathname)) return 'must have a database number as its path, such as /0'
  return undefined
}

function isDecodable (component: string): boolean {
  try {
    decodeURIComponent(component)
    return true
  } catch {
    return false
  }
}
