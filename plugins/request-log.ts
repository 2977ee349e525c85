import fp from 'fastify-plugin'
import { redactUrl } from '../src/logger.js'

/**
 * One line per completed request, when LOG_REQUESTS is on. Off by default: at high request rates
 * the lines cost more than the auth check, and rejections have lines of their own (src/rejection-log.ts).
 */
export default fp(async function requestLog (fastify) {
  if (!fastify.config.LOG_REQUESTS) return
  fastify.addHook('onResponse', (request, reply, done) => {
    request.log.info({
      method: request.method,
      url: redactUrl(request.url),
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime
    }, 'request completed')
    done()
  })
}, { name: 'request-log', dependencies: ['env'] })
