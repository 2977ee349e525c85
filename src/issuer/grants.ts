import type { TokenGrant } from './access-token.js'
import { authenticateClient, readClientCredentials } from './client-auth.js'
import { GRANT_TYPES, type ApiConfig, type ClientConfig, type GrantType, type IssuerConfig } from './config.js'
import { OAuthError } from './oauth-error.js'
import { negotiateScopes } from './scopes.js'
import { authenticateUser } from './user-auth.js'

/** The token request's parameters, from a JSON or form body (the names are the RFC's). */
export interface TokenRequestBody {
  grant_type?: string
  client_id?: string
  client_secret?: string
  audience?: string
  scope?: string
  username?: string
  password?: string
}

/**
 * Decides what token a request gets, or throws the OAuthError that says why not. Checks run from
 * the cheapest and least revealing to the most specific: grant type, client, audience, user, scope.
 */
export async function decideGrant (config: IssuerConfig, request: TokenRequestBody, authorization: string | undefined): Promise<TokenGrant> {
  const body = omitEmptyParameters(request)
  const grantType = parseGrantType(body.grant_type)
  const credentials = readClientCredentials({ authorization, clientId: body.client_id, clientSecret: body.client_secret })
  const client = await authenticateClient(config, credentials)
  if (!client.grantTypes.has(grantType)) {
    throw new OAuthError('unauthorized_client', `client "${client.clientId}" may not use the ${grantType} grant`)
  }
  const { api, granted } = resolveAudience(config, client, body.audience)
  const clientHolder = { name: `client "${client.clientId}"`, scopes: granted }
  if (grantType === 'client_credentials') {
    return {
      grantType,
      clientId: client.clientId,
      subject: `${client.clientId}@clients`,
      api,
      scopes: negotiateScopes(api, body.scope, [clientHolder])
    }
  }
  const user = await authenticateUser(config, body.username, body.password)
  return {
    grantType,
    clientId: client.clientId,
    subject: user.id,
    api,
    // A user's token carries only what both the user holds and the client may act on.
    scopes: negotiateScopes(api, body.scope, [clientHolder, { name: 'the user', scopes: user.scopes.get(api.identifier) ?? new Set() }])
  }
}

/** RFC 6749 section 3.1: a parameter sent without a value is treated as if it were omitted. */
function omitEmptyParameters (body: TokenRequestBody): TokenRequestBody {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== '')) as TokenRequestBody
}

function parseGrantType (grantType: string | undefined): GrantType {
  if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
  if (!(GRANT_TYPES as readonly string[]).includes(grantType)) {
    throw new OAuthError('unsupported_grant_type', `grant_type must be one of ${GRANT_TYPES.join(', ')}`)
  }
  return grantType as GrantType
}

/** The API the token is for, and the scopes the client holds on it. */
function resolveAudience (config: IssuerConfig, client: ClientConfig, audience: string | undefined): { api: ApiConfig, granted: ReadonlySet<string> } {
  if (audience === undefined) throw new OAuthError('invalid_request', 'audience is required: the identifier of the API the token is for')
  const api = config.apis.get(audience)
  // Auth0's wording for an unknown audience.
  if (api === undefined) throw new OAuthError('access_denied', `Service not found: ${audience}`)
  const granted = client.scopes.get(api.identifier)
  if (granted === undefined) {
    throw new OAuthError('access_denied', `client "${client.clientId}" is not authorized to access ${api.identifier}`)
  }
  return { api, granted }
}
