import cluster from 'node:cluster'
import fp from 'fastify-plugin'
import { AuthRejection } from '../src/auth/errors.js'
import { errorBody } from '../src/error-body.js'

/**
 * `/metrics` in Prometheus text format, when METRICS_ENABLED is on. Off by default, and then this
 * plugin adds nothing at all: no hook, no route. Each process has its own registry. In cluster
 * mode (`npm run start:cluster`) the worker that receives a scrape answers with the sum of every
 * worker's registry, which the primary gathers (src/metrics/cluster-metrics.ts).
 */
export default fp(async function metrics (fastify) {
  if (!fastify.config.METRICS_ENABLED) return

  // Loaded only when enabled: prom-client and the metric definitions cost memory in every process.
  const [{ AggregatorRegistry, collectDefaultMetrics, Registry }, { authMetrics }, { httpMetrics }] = await Promise.all([
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

  const routeOptions = { config: { auth: false }, schema: { hide: true } }
  if (!cluster.isWorker) {
    fastify.get('/metrics', routeOptions, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
    return
  }

  // A cluster worker: prom-client answers the primary's requests for this registry (the
  // constructor adds its listener on the channel), and a scrape asks the primary for the sum.
  AggregatorRegistry.setRegistries([registry])
  new AggregatorRegistry() // for that listener only
  const { askPrimary } = await import('../src/metrics/cluster-metrics.js')
  // A cluster worker always has its channel to the primary: process.send is there.
  const primary = askPrimary(process as Parameters<typeof askPrimary>[0])
  fastify.addHook('onClose', (_instance, done) => { primary.close(); done() })
  fastify.get('/metrics', routeOptions, async (request, reply) => {
    try {
      const text = await primary.metrics()
      reply.type(registry.contentType)
      return text
    } catch (error) {
      request.log.warn({ err: error }, 'cluster metrics unavailable')
      reply.code(503)
      return errorBody(503, 'METRICS_UNAVAILABLE', `The cluster's metrics could not be gathered: ${(error as Error).message}`)
    }
  })
}, { name: 'metrics', dependencies: ['env', 'auth'] })
