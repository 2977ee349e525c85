import type { FastifyPluginAsync } from 'fastify'
import { messageResponse } from '../../src/message-schema.js'

const privateRoute: FastifyPluginAsync = async (fastify) => {
  // No declaration needed: every route requires a valid access token by default.
  fastify.get('/private', { schema: { response: messageResponse } }, async () => ({ message: 'Hello from a private endpoint! You need to be authenticated to see this.' }))
}

export default privateRoute
