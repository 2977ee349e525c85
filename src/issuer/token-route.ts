import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { issueAccessToken } from './access-token.js'
import type { IssuerContext } from './context.js'
import { TOKEN_PATH } from './endpoints.js'
import { decideGrant, type TokenRequestBody } from './grants.js'

const PARAMETER = { type: 'string' } as const

const tokenSchema = {
  // Every parameter is a single string: a form field sent twice arrives as an array and fails here,
  // as RFC 6749 section 3.2 wants. Unknown parameters are ignored, as Auth0 does.
  body: {
    type: 'object',
    properties: {
      grant_type: PARAMETER,
      client_id: PARAMETER,
      client_secret: PARAMETER,
      audience: PARAMETER,
      scope: PARAMETER,
      username: PARAMETER,
      password: PARAMETER
    }
  },
  response: {
    200: {
      type: 'object',
      properties: {
        access_token: { type: 'string' },
        token_type: { type: 'string' },
        expires_in: { type: 'integer' },
        scope: { type: 'string' }
      }
    }
  }
} as const

/** RFC 6749 section 5.1: token responses, errors included, must not be cached. */
async function noStore (_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

/** A POST without a body (curl without --data) is a request without parameters, not a malformed one. */
async function emptyBodyAsNoParameters (request: FastifyRequest<{ Body: TokenRequestBody }>): Promise<void> {
  request.body ??= {}
}

/** POST /oauth/token: client credentials and password grants, as Auth0's quickstarts call it. */
export const tokenRoute: FastifyPluginAsync<IssuerContext> = async (app, { config, keys, issuerUrl }) => {
  // Only the two encodings token requests use; anything else gets a clear invalid_request.
  app.removeContentTypeParser('text/plain')
  app.post<{ Body: TokenRequestBody }>(TOKEN_PATH, { schema: tokenSchema, onRequest: noStore, preValidation: emptyBodyAsNoParameters }, async (request) => {
    const grant = await decideGrant(config, request.body, request.headers.authorization)
    const { signing } = await keys.current()
    const response = issueAccessToken(grant, issuerUrl(), signing)
    request.log.info({ client: grant.clientId, sub: grant.subject, aud: grant.api.identifier, scope: response.scope, kid: signing.kid }, 'issued an access token')
    return response
  })
}
