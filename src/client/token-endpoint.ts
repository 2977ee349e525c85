import { TokenRequestError } from './errors.js'
import { exchange, jsonObject } from './exchange.js'
import { parseRetryAfter } from './retry-delay.js'

// One client-credentials request to a token endpoint (RFC 6749 section 4.4), and what its answer means.

/** `client_secret_post`: id and secret in the form body (Auth0's default). `client_secret_basic`: HTTP Basic. */
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic'

export interface ClientCredentials {
  readonly clientId: string
  readonly clientSecret: string
  readonly authMethod: ClientAuthMethod
}

export interface TokenParameters {
  readonly audience: string | undefined
  readonly scope: string | undefined
}

export interface IssuedToken {
  readonly accessToken: string
  /** Seconds, from `expires_in`; 0 when the answer has none (such a token is used once, never cached). */
  readonly expiresIn: number
  /** The scope granted, when the answer says. */
  readonly scope: string | undefined
}

/** An RFC 6749 error code: a word, never free text (which could carry anything), and never the secret. */
const ERROR_CODE = /^[\w.-]{1,64}$/

/**
 * POSTs a client_credentials request as a form to `endpoint` and returns the token, or throws a
 * TokenRequestError (an answer without a token) or an IssuerUnreachableError (no answer).
 * `now` reads a Retry-After date.
 */
export async function requestToken (
  endpoint: string, credentials: ClientCredentials, parameters: TokenParameters, timeoutMs: number, now: () => number
): Promise<IssuedToken> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' })
  if (parameters.audience !== undefined) form.set('audience', parameters.audience)
  if (parameters.scope !== undefined) form.set('scope', parameters.scope)
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }
  if (credentials.authMethod === 'client_secret_basic') {
    // RFC 6749 section 2.3.1: each part form-encoded, then base64.
    const pair = `${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`
  } else {
    form.set('client_id', credentials.clientId)
    form.set('client_secret', credentials.clientSecret)
  }
  // DPoP (RFC 9449) goes here once the service accepts it: a `DPoP` proof header for `endpoint`, and
  // a `token_type` of DPoP accepted below; the API calls then need a proof each (TokenClient.fetch).
  const answer = await exchange(endpoint, { method: 'POST', headers, body: form.toString() }, timeoutMs)
  const body = jsonObject(answer.text) ?? {}
  if (answer.status !== 200) {
    throw new TokenRequestError(
      answer.status,
      typeof body.error === 'string' && ERROR_CODE.test(body.error) && mask(body.error, credentials.clientSecret) === body.error ? body.error : undefined,
      describe(body.error_description, credentials.clientSecret),
      parseRetryAfter(answer.headers.get('retry-after'), now())
    )
  }
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, scope } = body
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new TokenRequestError(200, undefined, 'the answer has no access_token', undefined)
  }
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') {
    throw new TokenRequestError(200, undefined, 'the answer\'s token_type is not Bearer', undefined)
  }
  return {
    accessToken,
    expiresIn: typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 0,
    scope: typeof scope === 'string' ? scope : undefined
  }
}

/** The issuer's error_description, short, with the client secret masked should an issuer echo it. */
function describe (description: unknown, secret: string): string | undefined {
  return typeof description === 'string' ? mask(description, secret).slice(0, 300) : undefined
}

/**
 * Masks `secret` in `text`. A secret under 8 characters is left alone: it would match ordinary
 * words ("wrong secret" for the secret "wrong"), and no issuer hands out secrets that short.
 */
function mask (text: string, secret: string): string {
  return secret.length < 8 ? text : text.split(secret).join('[secret]')
}
