import type { FastifyPluginAsync } from 'fastify'
import { messageResponse } from '../../src/message-schema.js'

const privateScopedRoute: FastifyPluginAsync = async (fastify) => {
  fastify.get('/private-scoped', {
    config: { auth: { scopes: ['read:messages'] } },
    schema: { response: messageResponse }
  }, async () => ({ message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' }))
}

export default privateScopedRoute
