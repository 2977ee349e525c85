import fp from 'fastify-plugin'
import { AuthRejection } from '../src/auth/errors.js'

/**
 * `/metrics` in Prometheus text format, when METRICS_ENABLED is on. Off by default, and then this
 * plugin adds nothing at all: no hook, no route. Each process has its own registry (in cluster
 * mode, each worker answers for itself).
 */
export default fp(async function metrics (fastify) {
  if (!fastify.config.METRICS_ENABLED) return

  // Loaded only when enabled: prom-client and the metric definitions cost memory in every process.
  const [{ collectDefaultMetrics, Registry }, { authMetrics }, { httpMetrics }] = await Promise.all([
    import('prom-client'), import('../src/metrics/auth-metrics.js'), import('../src/metrics/http-metrics.js')
  ])
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = httpMetrics(registry)
  const auth = authMetrics(registry, {
    issuerStatus: () => fastify.trustedIssuers.status(),
    tokenCacheStats: fastify.tokenCacheStats
  })
  fastify.trustedIssuers.onFetch(auth.keySetFetched)

  // Hooks added here reach every route registered after this plugin: the routes/ tree and the docs.
  fastify.addHook('onResponse', (request, reply, done) => {
    requests.observe(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime)
    done()
  })
  fastify.addHook('onError', (_request, _reply, error, done) => {
    // Only our own rejections: their codes are a fixed set, so the label stays bounded.
    if (error instanceof AuthRejection) auth.rejected(error.code)
    done()
  })

  fastify.get('/metrics', { config: { auth: false }, schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}, { name: 'metrics', dependencies: ['env', 'auth'] })
