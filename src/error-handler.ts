import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { accessTokenOf } from './auth/presented-token.js'
import { AuthRejection } from './auth/errors.js'
import { rejectionFor } from './auth/jwt-errors.js'
import { errorBody } from './error-body.js'
import { REJECTED } from './rejection-log.js'

/**
 * The one error handler: auth rejections get their RFC 6750 (and RFC 9449) challenge, other client errors keep
 * Fastify's own message, and anything unexpected is logged and answered with a generic 500:
 * never a stack trace, never library text.
 */
export function errorHandler (thrown: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // A handler's own request.jwtVerify() may fail with @fastify/jwt's errors: said our way.
  const error = rejectionFor(thrown, () => accessTokenOf(request)) as FastifyError
  const statusCode = error instanceof AuthRejection ? error.statusCode : error.statusCode ?? 500
  if (statusCode >= 500 && !(error instanceof AuthRejection)) {
    request.log.error({ err: error }, 'unexpected error')
    return reply.code(500).send(errorBody(500, 'INTERNAL_ERROR', 'An unexpected error occurred'))
  }
  const code = error.code ?? 'BAD_REQUEST'
  if (error instanceof AuthRejection) {
    request.server.rejectionLog.rejected(request, error)
    request.server.setRejectionHeaders(request, reply, error)
    if (error.retryAfter !== undefined) reply.header('retry-after', error.retryAfter)
    return reply.code(statusCode).type('application/json; charset=utf-8').send(error.body)
  }
  request.log.info({ code, statusCode }, REJECTED)
  return reply.code(statusCode).send(errorBody(statusCode, code, error.message))
}
