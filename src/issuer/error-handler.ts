import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { CLIENT_CHALLENGE, OAuthError } from './oauth-error.js'

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
