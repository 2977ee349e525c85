import type { FastifyPluginAsync } from 'fastify'

const privateScopedRoute: FastifyPluginAsync = async (fastify) => {
  fastify.get('/private-scoped', {
    config: { auth: { scopes: ['read:messages'] } }
  }, async () => ({ message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' }))
}

export default privateScopedRoute
