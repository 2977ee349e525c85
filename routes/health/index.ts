import type { FastifyPluginAsync } from 'fastify'

const health: FastifyPluginAsync = async (fastify) => {
  fastify.get('/health/live', { config: { auth: false } }, async () => ({ status: 'live' }))

  // Ready once the issuer's keys are loaded: before that no token can be verified.
  fastify.get('/health/ready', { config: { auth: false } }, async (_request, reply) => {
    const keys = fastify.keySet.status()
    if (!keys.ready) reply.code(503)
    return { status: keys.ready ? 'ready' : 'not ready', keys }
  })
}

export default health
