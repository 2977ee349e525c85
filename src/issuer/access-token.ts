import { randomUUID, sign } from 'node:crypto'
import type { GrantType } from './config.js'
import type { TokenGrant } from './grants.js'
import type { SigningKey } from './keys.js'

/** RFC 6749 section 5.1 body. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
}

/** Auth0 spells grant types with dashes in the `gty` claim. */
const GTY: Record<GrantType, string> = { client_credentials: 'client-credentials', password: 'password' }

export function issueAccessToken (grant: TokenGrant, issuer: string, key: SigningKey, now: Date = new Date()): TokenResponse {
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
export function signJwt (claims: object, key: SigningKey): string {
  const header = { alg: 'RS256', typ: 'JWT', kid: key.kid }
  const signingInput = `${base64url(header)}.${base64url(claims)}`
  const signature = sign('sha256', Buffer.from(signingInput), key.privateKey)
  return `${signingInput}.${signature.toString('base64url')}`
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
