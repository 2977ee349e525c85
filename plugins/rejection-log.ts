import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { RejectionLog } from '../src/rejection-log.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Auth rejections' log lines, summarised per reason code (src/rejection-log.ts); the error handler writes them. */
    rejectionLog: RejectionLog
  }
}

/** The rejection log, its interval from LOG_REJECTION_INTERVAL; what it still counts is reported on close. */
export default fp(async function rejectionLog (fastify) {
  // fastify.log is the service's pino logger (src/fastify-instance.ts); Fastify types it as the common subset.
  const log = new RejectionLog(fastify.log as Logger, fastify.config.LOG_REJECTION_INTERVAL)
  fastify.decorate('rejectionLog', log)
  fastify.addHook('onClose', async () => { log.close() })
}, { name: 'rejection-log', dependencies: ['env'] })
