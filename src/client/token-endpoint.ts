import type { DpopSession } from './dpop.js'
import { TokenRequestError } from './errors.js'
import { exchange, jsonObject, type Answer } from './exchange.js'
import { parseRetryAfter } from './retry-delay.js'

// One client-credentials request to a token endpoint (RFC 6749 section 4.4), with a DPoP proof when
// the client has a DPoP key (RFC 9449 section 5), and what its answer means.

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
  /** DPoP for a token bound to the client's DPoP key, else Bearer. */
  readonly tokenType: 'Bearer' | 'DPoP'
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
 * `now` reads a Retry-After date. With `dpop` the request carries a proof, and the token must be
 * a DPoP one; an answer asking for a DPoP nonce is followed by one more request with it.
 */
export async function requestToken (
  endpoint: string, credentials: ClientCredentials, parameters: TokenParameters, timeoutMs: number, now: () => number,
  dpop?: DpopSession
): Promise<IssuedToken> {
  const { headers, body } = tokenRequest(credentials, parameters)
  /** `fresh`: the answer handed out a DPoP nonce. */
  const send = async (): Promise<Answer & { fresh: boolean }> => {
    // A new proof for each request: the token endpoint accepts each one once.
    if (dpop !== undefined) headers.dpop = dpop.proof('POST', endpoint)
    const answer = await exchange(endpoint, { method: 'POST', headers, body }, timeoutMs)
    return { ...answer, fresh: dpop?.remember(endpoint, answer.headers) === true }
  }
  let answer = await send()
  // RFC 9449 section 8: the issuer wants its nonce in the proof, and sent one.
  if (answer.status === 400 && answer.fresh && jsonObject(answer.text)?.error === 'use_dpop_nonce') answer = await send()
  return readAnswer(answer, credentials.clientSecret, dpop === undefined ? 'Bearer' : 'DPoP', now)
}

/** The form and headers of a client_credentials request, the client authenticated its way. */
function tokenRequest (credentials: ClientCredentials, parameters: TokenParameters): { headers: Record<string, string>, body: string } {
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
  return { headers, body: form.toString() }
}

/** The token in a 200 answer of the `expected` type, or the TokenRequestError that says why there is none. */
function readAnswer (answer: Answer, secret: string, expected: IssuedToken['tokenType'], now: () => number): IssuedToken {
  const body = jsonObject(answer.text) ?? {}
  if (answer.status !== 200) {
    throw new TokenRequestError(
      answer.status,
      typeof body.error === 'string' && ERROR_CODE.test(body.error) && mask(body.error, secret) === body.error ? body.error : undefined,
      describe(body.error_description, secret),
      parseRetryAfter(answer.headers.get('retry-after'), now())
    )
  }
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, scope } = body
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new TokenRequestError(200, undefined, 'the answer has no access_token', undefined)
  }
  // Token types are case-insensitive (RFC 6749 section 5.1). A client with a DPoP key takes only a
  // token bound to it: a Bearer token would work for whoever steals it.
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== expected.toLowerCase()) {
    throw new TokenRequestError(200, undefined, `the answer's token_type is not ${expected}`, undefined)
  }
  return {
    accessToken,
    tokenType: expected,
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
