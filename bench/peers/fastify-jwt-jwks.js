// Fastify with fastify-jwt-jwks (nearform), wired as its README shows: jwksUrl, audience, issuer,
// `preValidation: fastify.authenticate`. Everything else at the plugin's defaults, which leave
// @fastify/jwt's verified-token cache off.
import Fastify from 'fastify'
import fastifyJwtJwks from 'fastify-jwt-jwks'
import { exitOnSignal, hasScope, MESSAGES, REQUIRED_SCOPE, settings } from './common.js'

const { port, host, issuer, audience } = settings()
const app = Fastify()

await app.register(fastifyJwtJwks, { jwksUrl: `${issuer}.well-known/jwks.json`, audience, issuer })

// The plugin has no scope helper; this is the check a user would write.
async function requireScope (request, reply) {
  if (!hasScope(request.user, REQUIRED_SCOPE)) {
    return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'Insufficient scope' })
  }
}

app.get('/api/public', async () => MESSAGES.public)
app.get('/api/private', { preValidation: app.authenticate }, async () => MESSAGES.private)
app.get('/api/private-scoped', { preValidation: app.authenticate, preHandler: requireScope }, async () => MESSAGES.scoped)

await app.listen({ port, host })
exitOnSignal(() => app.close())
