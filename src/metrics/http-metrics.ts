import { Histogram, type Registry } from 'prom-client'

/** The `route` label of a request no route matched (a 404): never the raw URL, which is unbounded. */
export const UNMATCHED_ROUTE = 'unmatched'

/** Sub-millisecond to seconds: most answers here take well under a millisecond of server time. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export interface HttpMetrics {
  /** One answered request; `route` is the route's pattern (`/api/private`), undefined for a 404. */
  observe: (method: string, route: string | undefined, statusCode: number, elapsedMs: number) => void
}

/**
 * Request latency by method, route pattern and status. The histogram's `_count` is the request
 * count, so one observation per request carries both (one label lookup, not two).
 */
export function httpMetrics (registry: Registry): HttpMetrics {
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by method, route pattern and status code; _count is the number of requests',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  return {
    observe (method, route, statusCode, elapsedMs) {
      duration.observe({ method, route: route ?? UNMATCHED_ROUTE, status_code: statusCode }, elapsedMs / 1000)
    }
  }
}
