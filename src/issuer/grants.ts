import { GRANT_TYPES, type ApiConfig, type ClientConfig, type GrantType, type IssuerConfig, type UserConfig } from './config.js'
import { OAuthError } from './oauth-error.js'
import { UNMATCHABLE_HASH, verifySecret } from './secret-hash.js'

// What a token request gets: the client authenticates (for the password grant the user too), the
// audience names an API the client may call, and the token's scopes are ones every holder is granted.

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

/** Who gets a token for what, as decided by a grant. */
export interface TokenGrant {
  readonly grantType: GrantType
  readonly clientId: string
  /** `<client_id>@clients` for client credentials, the user's id for the password grant (as Auth0). */
  readonly subject: string
  readonly api: ApiConfig
  readonly scopes: readonly string[]
  /** The client's registered certificate (RFC 8705), which the token is bound to; undefined for none. */
  readonly certificateThumbprint: string | undefined
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
      scopes: negotiateScopes(api, body.scope, [clientHolder]),
      certificateThumbprint: client.certificateThumbprint
    }
  }
  const user = await authenticateUser(config, body.username, body.password)
  return {
    grantType,
    clientId: client.clientId,
    subject: user.id,
    api,
    // A user's token carries only what both the user holds and the client may act on.
    scopes: negotiateScopes(api, body.scope, [clientHolder, { name: 'the user', scopes: user.scopes.get(api.identifier) ?? new Set() }]),
    certificateThumbprint: client.certificateThumbprint
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

interface ClientCredentials {
  readonly clientId: string
  readonly clientSecret: string
}

/** Where RFC 6749 section 2.3.1 lets a confidential client put its credentials. */
interface CredentialSources {
  readonly authorization: string | undefined
  readonly clientId: string | undefined
  readonly clientSecret: string | undefined
}

/**
 * Reads the client's credentials from HTTP Basic (client_secret_basic) or the body
 * (client_secret_post). Using both at once is ambiguous, so it is refused.
 */
function readClientCredentials ({ authorization, clientId, clientSecret }: CredentialSources): ClientCredentials {
  if (authorization !== undefined) {
    const basic = parseBasic(authorization)
    if (clientSecret !== undefined) {
      throw new OAuthError('invalid_request', 'use one client authentication method: HTTP Basic or client_secret in the body, not both')
    }
    if (clientId !== undefined && clientId !== basic.clientId) {
      throw new OAuthError('invalid_request', 'client_id in the body differs from the one in the Authorization header')
    }
    return basic
  }
  if (clientId === undefined || clientSecret === undefined) {
    throw new OAuthError('invalid_client', 'client authentication required: send client_id and client_secret in the body or by HTTP Basic')
  }
  return { clientId, clientSecret }
}

/** Any mismatch gives the same answer, so a caller cannot tell an unknown client from a wrong secret. */
async function authenticateClient (config: IssuerConfig, { clientId, clientSecret }: ClientCredentials): Promise<ClientConfig> {
  const client = config.clients.get(clientId)
  // An unknown client still pays for one scrypt, so timing does not reveal which client ids exist.
  const matches = await verifySecret(clientSecret, client?.secretHash ?? UNMATCHABLE_HASH)
  if (client === undefined || !matches) {
    throw new OAuthError('invalid_client', 'client authentication failed: unknown client or wrong secret')
  }
  return client
}

function parseBasic (authorization: string): ClientCredentials {
  const [scheme, encoded, ...rest] = authorization.trim().split(/\s+/)
  if (scheme.toLowerCase() !== 'basic' || encoded === undefined || rest.length > 0) {
    throw new OAuthError('invalid_client', 'unsupported Authorization header: use Basic base64(client_id:client_secret)')
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const clientId = formDecode(decoded.slice(0, colon))
  const clientSecret = formDecode(decoded.slice(colon + 1))
  if (colon < 1 || clientId === undefined || clientSecret === undefined || clientSecret === '') {
    throw new OAuthError('invalid_client', 'malformed Basic credentials: expected base64(client_id:client_secret)')
  }
  return { clientId, clientSecret }
}

/** RFC 6749 section 2.3.1 form-encodes the id and secret before base64; undefined when malformed. */
function formDecode (text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

/** The resource owner of the password grant; an unknown user and a wrong password look the same. */
async function authenticateUser (config: IssuerConfig, username: string | undefined, password: string | undefined): Promise<UserConfig> {
  if (username === undefined || password === undefined) {
    throw new OAuthError('invalid_request', 'the password grant needs username and password')
  }
  const user = config.users.get(username)
  const matches = await verifySecret(password, user?.passwordHash ?? UNMATCHABLE_HASH)
  if (user === undefined || !matches) throw new OAuthError('invalid_grant', 'wrong username or password')
  return user
}

/** Someone whose grants bound the token's scopes: the client, and for the password grant the user too. */
interface ScopeHolder {
  /** Names the holder in error descriptions, e.g. `client "m2m-reader"`. */
  readonly name: string
  readonly scopes: ReadonlySet<string>
}

/**
 * The scopes a token gets. Without a `scope` parameter: everything every holder is granted on the
 * API (Auth0's default). With one: exactly the requested scopes, and any scope a holder lacks is an
 * invalid_scope error, never a token with less (or more) than what was asked.
 */
function negotiateScopes (api: ApiConfig, requested: string | undefined, holders: readonly ScopeHolder[]): string[] {
  const heldByAll = (scope: string): boolean => holders.every(holder => holder.scopes.has(scope))
  const names = (requested ?? '').split(' ').filter(name => name !== '')
  if (names.length === 0) return api.scopes.filter(heldByAll)
  for (const name of names) {
    if (!api.scopes.includes(name)) {
      throw new OAuthError('invalid_scope', `scope "${name}" is not defined for audience ${api.identifier}`)
    }
    const lacking = holders.find(holder => !holder.scopes.has(name))
    if (lacking !== undefined) {
      throw new OAuthError('invalid_scope', `${lacking.name} is not granted scope "${name}" on ${api.identifier}`)
    }
  }
  // The API's own order, and each scope once, whatever order and repeats the request used.
  return api.scopes.filter(scope => names.includes(scope))
}
