import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createHmac, randomUUID, sign } from 'node:crypto'
import { GRANT_TYPES, type GrantType, type HmacAlgorithm, type HmacSigning, type IssuerConfig } from './config.js'
import { DPOP_SIGNING_ALGORITHMS, type TokenEndpointDpop } from './dpop.js'
import { decideGrant, type TokenGrant, type TokenRequestBody } from './grants.js'
import type { KeyStore, SigningKey } from './keys.js'

// The issuer's endpoints: OpenID Connect discovery, the key set, and /oauth/token with the access
// tokens it signs, bound to a DPoP key or a client certificate when the request or client has one.

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
  /** Set when access tokens are signed with the API's shared secret instead of the RSA key. */
  readonly hmac: HmacSigning | undefined
  /** Checks the DPoP proofs of token requests. */
  readonly dpop: TokenEndpointDpop
}

/** The token endpoint of an issuer identifier: where DPoP proofs for token requests point. */
export function tokenEndpointOf (issuer: string): string {
  return new URL(TOKEN_PATH, issuer).href
}

/** OpenID Connect discovery and the key set, the two documents a verifier fetches. */
export const discoveryRoutes: FastifyPluginAsync<IssuerContext> = async (app, { config, keys, issuerUrl, hmac }) => {
  app.get(DISCOVERY_PATH, async () => {
    const issuer = issuerUrl()
    return {
      issuer,
      token_endpoint: tokenEndpointOf(issuer),
      jwks_uri: new URL(JWKS_PATH, issuer).href,
      grant_types_supported: GRANT_TYPES,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: [...new Set([...config.apis.values()].flatMap(api => api.scopes))],
      // No ID tokens are issued; OIDC clients expect the field, and it names the access tokens' algorithm.
      id_token_signing_alg_values_supported: [hmac?.algorithm ?? 'RS256'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'scope', 'azp', 'gty', 'jti', 'permissions', 'cnf'],
      // RFC 9449 section 5.1 and RFC 8705 section 3.3: tokens bound to a DPoP key or a client certificate.
      dpop_signing_alg_values_supported: DPOP_SIGNING_ALGORITHMS,
      tls_client_certificate_bound_access_tokens: true
    }
  })

  // With HMAC signing the RSA key stays published; no token refers to it.
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

/**
 * POST /oauth/token: client credentials and password grants, as Auth0's quickstarts call it. With a
 * DPoP header (RFC 9449 section 5) the token is bound to the proof's key and typed DPoP.
 */
export const tokenRoute: FastifyPluginAsync<IssuerContext> = async (app, { config, keys, issuerUrl, hmac, dpop }) => {
  const secretSigner = hmac === undefined ? undefined : hmacSigner(hmac)
  // Only the two encodings token requests use; anything else gets a clear invalid_request.
  app.removeContentTypeParser('text/plain')
  app.post<{ Body: TokenRequestBody }>(TOKEN_PATH, { schema: tokenSchema, onRequest: noStore, preValidation: emptyBodyAsNoParameters }, async (request) => {
    // The proof first: it is cheaper than the client's scrypt. Node joins repeated headers into
    // one; headersDistinct keeps them apart, so two DPoP headers are seen as two.
    const jkt = await dpop.keyThumbprint(request.raw.headersDistinct.dpop)
    const grant = await decideGrant(config, request.body, request.headers.authorization)
    // The RSA key is looked up for every token: `issuer:rotate` changes it while the issuer runs.
    const signer = secretSigner ?? rsaSigner((await keys.current()).signing)
    const cnf = confirmation(jkt, grant.certificateThumbprint)
    const response = issueAccessToken(grant, issuerUrl(), signer, cnf)
    const { alg, kid } = signer.header
    request.log.info({ client: grant.clientId, sub: grant.subject, aud: grant.api.identifier, scope: response.scope, alg, kid, cnf }, 'issued an access token')
    return response
  })
}

/** RFC 6749 section 5.1 body. */
export interface TokenResponse {
  access_token: string
  /** DPoP for a token bound to a DPoP key (RFC 9449 section 5), else Bearer (a certificate-bound one too). */
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
}

/** The `cnf` claim (RFC 7800): the DPoP key's and the client certificate's thumbprints. */
interface Confirmation {
  readonly jkt?: string
  readonly 'x5t#S256'?: string
}

/** Undefined for a bearer token; a client with a certificate that also sent a proof gets both bindings. */
function confirmation (jkt: string | undefined, certificate: string | undefined): Confirmation | undefined {
  if (jkt === undefined && certificate === undefined) return undefined
  return { ...(jkt === undefined ? {} : { jkt }), ...(certificate === undefined ? {} : { 'x5t#S256': certificate }) }
}

/** Auth0 spells grant types with dashes in the `gty` claim. */
const GTY: Record<GrantType, string> = { client_credentials: 'client-credentials', password: 'password' }

function issueAccessToken (grant: TokenGrant, issuer: string, signer: TokenSigner, cnf: Confirmation | undefined, now: Date = new Date()): TokenResponse {
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
    ...(grant.api.rbac ? { permissions: [...grant.scopes] } : {}),
    ...(cnf === undefined ? {} : { cnf })
  }
  const tokenType = cnf?.jkt === undefined ? 'Bearer' : 'DPoP'
  return { access_token: signJwt(claims, signer), token_type: tokenType, expires_in: expiresIn, scope }
}

/** A JWS header and the signature that goes with it. */
interface TokenSigner {
  readonly header: { readonly alg: string, readonly typ: 'JWT', readonly kid?: string }
  signature(signingInput: Buffer): Buffer
}

/** RS256 with the issuer's current key, named by its kid for the verifier's key set lookup. */
function rsaSigner (key: SigningKey): TokenSigner {
  return {
    header: { alg: 'RS256', typ: 'JWT', kid: key.kid },
    signature: input => sign('sha256', input, key.privateKey)
  }
}

const HMAC_HASH: Record<HmacAlgorithm, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }

/** HS256/384/512 with the shared secret; no kid, as Auth0's HS256 tokens: there is one secret. */
function hmacSigner ({ algorithm, secret }: HmacSigning): TokenSigner {
  return {
    header: { alg: algorithm, typ: 'JWT' },
    signature: input => createHmac(HMAC_HASH[algorithm], secret).update(input).digest()
  }
}

/** A compact JWS; node:crypto is all it takes, and verifying with another library checks it. */
function signJwt (claims: object, signer: TokenSigner): string {
  const signingInput = `${base64url(signer.header)}.${base64url(claims)}`
  return `${signingInput}.${signer.signature(Buffer.from(signingInput)).toString('base64url')}`
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
