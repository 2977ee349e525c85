import type { FastifyPluginAsync } from 'fastify'

const health: FastifyPluginAsync = async (fastify) => {
  fastify.get('/live', { config: { auth: false } }, async () => ({ status: 'live' }))

  // Ready once the issuers' keys are loaded (every issuer's, or with READY_WHEN=any at least one's):
  // before that their tokens cannot be verified. Each issuer says how it stands. The DPoP replay
  // store says how it stands too; without it only DPoP requests fail, so it decides readiness
  // only where every request must be DPoP (DPOP=required).
  fastify.get('/ready', { config: { auth: false } }, async (_request, reply) => {
    const issuers = fastify.trustedIssuers.status()
    const keysReady = fastify.authSettings.readyWhen === 'all' ? issuers.every(issuer => issuer.ready) : issuers.some(issuer => issuer.ready)
    const replayStore = { kind: fastify.replayStore.kind, ...fastify.replayStore.health() }
    const ready = keysReady && (replayStore.ready || fastify.authSettings.dpop.mode !== 'required')
    if (!ready) reply.code(503)
    return { status: ready ? 'ready' : 'not ready', issuers, replayStore }
  })
}

export default health
