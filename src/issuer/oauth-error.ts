import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/**
 * Token endpoint errors: RFC 6749 section 5.2 codes, plus Auth0's `access_denied` for an unknown
 * audience or an API the client may not call, and RFC 9449's `invalid_dpop_proof`. One class,
 * so one error handler renders them all.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_dpop_proof'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // 401 plus a Basic challenge: the client may retry with (other) credentials.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  // 403 like Auth0: the request is understood and authenticated, the API is off limits to the client.
  access_denied: 403,
  server_error: 500,
  // Too many token requests at once: retry shortly (sent with Retry-After).
  temporarily_unavailable: 503,
  // RFC 9449 section 5: a DPoP proof the token endpoint does not accept.
  invalid_dpop_proof: 400
}

export class OAuthError extends Error {
  readonly error: OAuthErrorCode
  readonly statusCode: number

  /** `description` is sent to the client and logged: never put a secret, password or token in it. */
  constructor (error: OAuthErrorCode, description: string) {
    super(description)
    this.name = 'OAuthError'
    this.error = error
    this.statusCode = STATUS[error]
  }

  toJSON (): { error: OAuthErrorCode, error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}

/** The challenge sent with every invalid_client response (RFC 6749 section 5.2). */
const CLIENT_CHALLENGE = 'Basic realm="local-issuer"'

/**
 * The issuer's one error handler: every failure leaves as an RFC 6749 section 5.2 body, and no
 * response ever carries a stack trace or text echoed from the request body.
 */
export function oauthErrorHandler (error: FastifyError | OAuthError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const oauthError = toOAuthError(error, request.routeOptions.bodyLimit)
  if (oauthError.error === 'server_error') {
    request.log.error({ err: error }, 'local issuer failed')
  } else {
    request.log.info({ error: oauthError.error }, oauthError.message)
  }
  if (oauthError.error === 'invalid_client') reply.header('www-authenticate', CLIENT_CHALLENGE)
  if (oauthError.error === 'temporarily_unavailable') reply.header('retry-after', '1')
  return reply.code(oauthError.statusCode).send(oauthError.toJSON())
}

export function notFoundHandler (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not_found', error_description: `${request.method} ${request.url.split('?')[0]} is not an endpoint of the local issuer` })
}

function toOAuthError (error: FastifyError | OAuthError, bodyLimit: number): OAuthError {
  if (error instanceof OAuthError) return error
  // Schema messages name the field ("body/scope must be string"), never its value.
  if (error.validation !== undefined) return new OAuthError('invalid_request', error.message)
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('invalid_request', `request body is larger than ${bodyLimit} bytes`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OAuthError('invalid_request', 'send the parameters as application/x-www-form-urlencoded or application/json')
  }
  // Other client errors (bad JSON, bad content-length): Fastify's messages may quote the body.
  if (error.statusCode !== undefined && error.statusCode < 500) return new OAuthError('invalid_request', 'malformed request')
  return new OAuthError('server_error', 'the local issuer failed; see its log')
}
