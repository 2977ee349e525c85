import type { ClientConfig, IssuerConfig } from './config.js'
import { OAuthError } from './oauth-error.js'
import { UNMATCHABLE_HASH, verifySecret } from './secret-hash.js'

export interface ClientCredentials {
  readonly clientId: string
  readonly clientSecret: string
}

/** Where RFC 6749 section 2.3.1 lets a confidential client put its credentials. */
export interface CredentialSources {
  readonly authorization: string | undefined
  readonly clientId: string | undefined
  readonly clientSecret: string | undefined
}

/**
 * Reads the client's credentials from HTTP Basic (client_secret_basic) or the body
 * (client_secret_post). Using both at once is ambiguous, so it is refused.
 */
export function readClientCredentials ({ authorization, clientId, clientSecret }: CredentialSources): ClientCredentials {
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
export async function authenticateClient (config: IssuerConfig, { clientId, clientSecret }: ClientCredentials): Promise<ClientConfig> {
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
