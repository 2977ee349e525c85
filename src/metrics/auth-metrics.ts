import { type Aggregator, Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { KeySetFetch } from '../auth/key-set.js'
import type { TokenCacheStats } from '../auth/token-cache.js'
import type { IssuerStatus } from '../auth/trusted-issuers.js'

/** Discovery plus key set, each bounded by JWKS_TIMEOUT (at most 60 s). */
const FETCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export interface AuthMetricSources {
  issuerStatus: () => IssuerStatus[]
  tokenCacheStats: () => TokenCacheStats
}

export interface AuthMetrics {
  /** A rejection, by its stable code (AUTH_*): a fixed, small set of label values. */
  rejected: (code: string) => void
  /** A key set fetch of an issuer that completed or failed (the key sets' fetch observer). */
  keySetFetched: (issuer: string, fetch: KeySetFetch) => void
}

/**
 * What the auth layer does, as Prometheus metrics. Gauges and cache counters are read from their
 * sources when scraped, so they cost nothing between scrapes. No label ever carries a token, a
 * subject, a kid or any other value a caller controls; the `issuer` label takes only the issuers
 * of the configuration.
 */
export function authMetrics (registry: Registry, sources: AuthMetricSources): AuthMetrics {
  const registers = [registry]
  const rejections = new Counter({
    name: 'auth_rejections_total',
    help: 'Requests refused by the auth layer, by reason code (AUTH_MISSING_TOKEN, AUTH_TOKEN_EXPIRED, ...)',
    labelNames: ['code'] as const,
    registers
  })
  const fetches = new Histogram({
    name: 'auth_keyset_fetch_duration_seconds',
    help: 'Time to fetch the issuer key set (discovery included), by result (ok or error); _count is the number of fetches',
    labelNames: ['issuer', 'result'] as const,
    buckets: FETCH_BUCKETS,
    registers
  })
  /**
   * One gauge with a value per issuer, read from the issuers' status when scraped. In cluster
   * mode one scrape combines every worker's registry (cluster-metrics.ts), and prom-client sums a
   * metric unless told otherwise: right for the counters and histograms here, which count each
   * worker's own events, wrong for these gauges, where every worker describes its own copy of the
   * same key set (two workers would report 2 keys for one). Each takes instead the worker that
   * matters to an alert: the oldest key set (age: max), any worker serving a stale one (stale:
   * max), the worker with the fewest keys (keys: min, so 0 shows while any worker cannot verify
   * the issuer's tokens; its age of -1 does not show under max, its 0 keys does).
   */
  const issuerGauge = (name: string, help: string, aggregator: Aggregator, value: (status: IssuerStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['issuer'] as const,
      registers,
      aggregator,
      collect () {
        for (const status of sources.issuerStatus()) this.set({ issuer: status.issuer }, value(status))
      }
    })
  }
  // Not NaN: prom-client writes it as "Nan", which strict parsers (OpenMetrics) refuse.
  issuerGauge('auth_keyset_age_seconds', 'Seconds since the issuer\'s key set in use was fetched; -1 while none is loaded (or the issuer has a secret)',
    'max', status => status.ageSeconds ?? -1)
  issuerGauge('auth_keyset_keys', 'Keys in the issuer\'s key set in use (0: its tokens cannot be verified, or it has a secret)', 'min', status => status.keys)
  issuerGauge('auth_keyset_stale', '1 while serving a key set older than JWKS_CACHE_TTL because the issuer fails, else 0', 'max', status => status.stale ? 1 : 0)
  new Counter({
    name: 'auth_token_cache_lookups_total',
    help: 'Token verifications, by whether the verified-token cache answered them (hit) or not (miss)',
    labelNames: ['result'] as const,
    registers,
    collect () {
      // The verifier counts; a scrape copies its totals (a counter cannot be set, so reset and add).
      const { hits, misses } = sources.tokenCacheStats()
      this.reset()
      this.inc({ result: 'hit' }, hits)
      this.inc({ result: 'miss' }, misses)
    }
  })
  return {
    rejected (code) { rejections.inc({ code }) },
    keySetFetched (issuer, { ok, durationMs }) { fetches.observe({ issuer, result: ok ? 'ok' : 'error' }, durationMs / 1000) }
  }
}
