import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { randomUUID, sign } from 'node:crypto'
import { GRANT_TYPES, type GrantType, type IssuerConfig } from './config.js'
import { decideGrant, type TokenGrant, type TokenRequestBody } from './grants.js'
import type { KeyStore, SigningKey } from './keys.js'

// The issuer's endpoints: OpenID Connect discovery, the key set, and /oauth/token with the access
// tokens it signs.

/** The issuer's paths, relative to its identifier `http://localhost:<port>/` (as Auth0's tenants). */
const DISCOVERY_PATH = '/.well-known/openid-configuration'
const JWKS_PATH = '/.well-known/jwks.json'
export const TOKEN_PATH = '/oauth/token'

/** What the issuer's routes share. */
interface IssuerContext {
  readonly config: IssuerConfig
  readonly keys: KeyStore
  /** `http://localhost:<port>/`; a function because the port is known only once listening. */
  readonly issuerUrl: () => string
}

/** OpenID Connect discovery and the key set, the two documents a verifier fetches. */
export const discoveryRoutes: FastifyPluginAsync<IssuerContext> = async (app, { config, keys, issuerUrl }) => {
  app.get(DISCOVERY_PATH, async () => {
    const issuer = issuerUrl()
    return {
      issuer,
      token_endpoint: new URL(TOKEN_PATH, issuer).href,
      jwks_uri: new URL(JWKS_PATH, issuer).href,
      grant_types_supported: GRANT_TYPES,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: [...new Set([...config.apis.values()].flatMap(api => api.scopes))],
      // No ID tokens are issued; OIDC clients expect the field, and it names the access tokens' algorithm.
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'scope', 'azp', 'gty', 'jti', 'permissions']
    }
  })

  app.get(JWKS_PATH, async () => {
    const { published } = await keys.current()
    return { keys: published.map(key => key.publicJwk) }
  })
}

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

/** RFC 6749 section 5.1 body. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
}

/** Auth0 spells grant types with dashes in the `gty` claim. */
const GTY: Record<GrantType, string> = { client_credentials: 'client-credentials', password: 'password' }

function issueAccessToken (grant: TokenGrant, issuer: string, key: SigningKey, now: Date = new Date()): TokenResponse {
  const iat = Math.floor(now.getTime() / 1000)
  const expiresIn = grant.api.tokenLifetimeSeconds
  const scope = grant.scopes.join(' ')
  const claims = {
    iss: issuer,
    sub: grant.subject,
    aud: grant.api.identifier,
    iat,
    exp: iat + expiresIn,
    scope,
    azp: grant.clientId,
    gty: GTY[grant.grantType],
    jti: randomUUID(),
    ...(grant.api.rbac ? { permissions: [...grant.scopes] } : {})
  }
  return { access_token: signJwt(claims, key), token_type: 'Bearer', expires_in: expiresIn, scope }
}

/** A compact RS256 JWS; node:crypto is all it takes, and verifying with another library checks it. */
function signJwt (claims: object, key: SigningKey): string {
  const header = { alg: 'RS256', typ: 'JWT', kid: key.kid }
  const signingInput = `${base64url(header)}.${base64url(claims)}`
  const signature = sign('sha256', Buffer.from(signingInput), key.privateKey)
  return `${signingInput}.${signature.toString('base64url')}`
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
