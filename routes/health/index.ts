import type { FastifyPluginAsync } from 'fastify'

const health: FastifyPluginAsync = async (fastify) => {
  fastify.get('/live', { config: { auth: false } }, async () => ({ status: 'live' }))

  // Ready once the issuers' keys are loaded (every issuer's, or with READY_WHEN=any at least one's):
  // before that their tokens cannot be verified. Each issuer says how it stands.
  fastify.get('/ready', { config: { auth: false } }, async (_request, reply) => {
    const issuers = fastify.trustedIssuers.status()
    const ready = fastify.authSettings.readyWhen === 'all' ? issuers.every(issuer => issuer.ready) : issuers.some(issuer => issuer.ready)
    if (!ready) reply.code(503)
    return { status: ready ? 'ready' : 'not ready', issuers }
  })
}

export default health
