// Fastify with @fastify/jwt and get-jwks wired by hand: the combination get-jwks documents, with
// the issuer pinned from configuration (never taken from the token), an explicit algorithm list,
// required claims, and @fastify/jwt's verified-token cache turned on.
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import buildGetJwks from 'get-jwks'
import { exitOnSignal, hasScope, MESSAGES, REQUIRED_SCOPE, settings } from './common.js'

const { port, host, issuer, audience } = settings()
const getJwks = buildGetJwks({ providerDiscovery: true, issuersWhitelist: [issuer] })
const app = Fastify()

await app.register(fastifyJwt, {
  decode: { complete: true },
  // @fastify/jwt passes either the decoded token or its header, depending on the call path.
  secret: (_request, token) => {
    const { kid, alg } = token.header ?? token
    return getJwks.getPublicKey({ domain: issuer, kid, alg })
  },
  verify: {
    algorithms: ['RS256'],
    allowedIss: issuer,
    allowedAud: audience,
    requiredClaims: ['exp', 'iss', 'aud'],
    cache: true
  }
})

async function authenticate (request) {
  await request.jwtVerify()
}

async function requireScope (request, reply) {
  if (!hasScope(request.user, REQUIRED_SCOPE)) {
    return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'Insufficient scope' })
  }
}

app.get('/api/public', async () => MESSAGES.public)
app.get('/api/private', { onRequest: authenticate }, async () => MESSAGES.private)
app.get('/api/private-scoped', { onRequest: authenticate, preHandler: requireScope }, async () => MESSAGES.scoped)

await app.listen({ port, host })
exitOnSignal(() => app.close())
