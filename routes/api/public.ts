import type { FastifyPluginAsync } from 'fastify'
import { messageResponse } from '../../src/message-schema.js'

const publicRoute: FastifyPluginAsync = async (fastify) => {
  fastify.get('/public', {
    config: { auth: false },
    schema: { response: messageResponse }
  }, async () => ({ message: 'Hello from a public endpoint! You don\'t need to be authenticated to see this.' }))
}

export default publicRoute
