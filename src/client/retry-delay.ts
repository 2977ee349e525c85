import { TokenRequestError } from './errors.js'

// When a token request is worth repeating, and after how long.

/** Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP date; milliseconds, or undefined when absent or unreadable. */
export function parseRetryAfter (header: string | null, now: number): number | undefined {
  const value = header?.trim() ?? ''
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Without Retry-After: 0.5 s, 1 s, 2 s, ... with jitter, so replicas that failed together do not retry together. */
const BACKOFF_BASE_MS = 500

/**
 * How long to wait before repeating a request that failed with `error` on attempt `attempt` (0 for
 * the first), or undefined when repeating it cannot help: only 429 and 5xx answers are retried, after
 * their Retry-After when they give one. A refused connection or a timeout is not retried: the
 * caller would wait a timeout more for an issuer that is most likely down.
 */
export function retryDelay (error: unknown, attempt: number): number | undefined {
  if (!(error instanceof TokenRequestError) || (error.status !== 429 && error.status < 500)) return undefined
  return error.retryAfterMs ?? BACKOFF_BASE_MS * 2 ** attempt * (0.5 + Math.random() / 2)
}
