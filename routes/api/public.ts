import type { FastifyPluginAsync } from 'fastify'

const publicRoute: FastifyPluginAsync = async (fastify) => {
  fastify.get('/public', {
    config: { auth: false }
  }, async () => ({ message: 'Hello from a public endpoint! You don\'t need to be authenticated to see this.' }))
}

export default publicRoute
