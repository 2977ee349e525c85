import type { ServerOptions as HttpsServerOptions } from 'node:https'
import Fastify, { errorCodes, LogController, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { requestLoggerFactory } from './request-logger.js'

/**
 * A Fastify instance that logs through `logger`, as the service and its tests build it.
 *
 * Fastify's own `logger` option stays off, on purpose: with a logger configured, Fastify times
 * every response, two listeners on each one, whether or not anything reads the time. Measured
 * against this, that cost about 5% of a request to a protected route. Without it, Fastify times
 * the responses of routes with onResponse hooks only (LOG_REQUESTS, the metrics), which are the
 * ones that read the time. Logging itself loses nothing:
 * - every request still gets its logger with its request id, from the child logger factory
 *   (made only when the request logs: src/request-logger.ts);
 * - `fastify.log`, which Fastify then fills with a logger that drops everything, is set to ours
 *   once, before any plugin can see it, so Fastify's own lines (listening, failures) are ours too.
 *
 * With `https` options (src/mtls/tls-options.ts) it serves https instead of http.
 */
export function createFastify (logger: Logger, { https }: { https?: HttpsServerOptions } = {}): FastifyInstance {
  const requestLogger = requestLoggerFactory(logger)
  const fastify = Fastify({
    // null: plain http. (An https server is an http.Server to everything the service calls on it.)
    https: https ?? null,
    logger: false,
    // Fastify's per-request lines off: the request-log plugin writes them when LOG_REQUESTS is on.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (_dropped, bindings, options) => requestLogger(bindings, options)
  })
  Object.defineProperty(fastify, 'log', { value: logger, writable: true, enumerable: true, configurable: true })
  // Fastify checks a route's logLevel against its own logger, which is now the no-op one. Check it
  // against ours, so a misspelt level still stops start-up rather than failing the route's requests.
  fastify.addHook('onRoute', route => {
    const level = route.logLevel
    // Empty means the level of the route's plugin, as Fastify reads it.
    if (level && logger.levels.values[level] === undefined) {
      throw new errorCodes.FST_ERR_ROUTE_LOG_LEVEL_INVALID(route.method, route.url, level)
    }
  })
  return fastify
}
