import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthRejection, MalformedToken } from './auth/errors.js'
import { errorBody } from './error-body.js'

/** @fastify/jwt's code for a token it cannot decode. */
const JWT_UNDECODABLE = 'FST_JWT_AUTHORIZATION_TOKEN_INVALID'

/**
 * The one error handler: auth rejections get their RFC 6750 challenge, other client errors keep
 * Fastify's own message, and anything unexpected is logged and answered with a generic 500:
 * never a stack trace, never library text.
 */
export function errorHandler (thrown: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // request.jwtVerify() lets @fastify/jwt decode a token before our verifier has judged it when
  // the token's key is still being fetched: one it cannot decode is malformed, said our way.
  const error = thrown.code === JWT_UNDECODABLE ? new MalformedToken() : thrown
  const statusCode = error instanceof AuthRejection ? error.statusCode : error.statusCode ?? 500
  if (statusCode >= 500 && !(error instanceof AuthRejection)) {
    request.log.error({ err: error }, 'unexpected error')
    return reply.code(500).send(errorBody(500, 'INTERNAL_ERROR', 'An unexpected error occurred'))
  }
  const code = error.code ?? 'BAD_REQUEST'
  if (error instanceof AuthRejection) {
    request.log.info({ code, statusCode }, REJECTED)
    reply.header('www-authenticate', error.challenge)
    if (error.retryAfter !== undefined) reply.header('retry-after', error.retryAfter)
    return reply.code(statusCode).type('application/json; charset=utf-8').send(error.body)
  }
  request.log.info({ code, statusCode }, REJECTED)
  return reply.code(statusCode).send(errorBody(statusCode, code, error.message))
}

const REJECTED = 'request rejected'

