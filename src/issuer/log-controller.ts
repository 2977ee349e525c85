import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/**
 * Fastify's request log lines record the full URL, query string included: a client that wrongly
 * puts client_secret in the query must not get it written to the log. This logs one line per
 * request with the path only; headers and bodies are never logged either.
 */
export class QueryFreeLogController extends LogController {
  constructor () {
    // Silences the default "incoming request" line; the override below writes the completed one.
    super({ disableRequestLogging: true })
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.info({
      method: request.method,
      path: request.url.split('?')[0],
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime),
      // Set when the response failed midway, e.g. the client went away.
      ...(error ? { err: error } : {})
    }, 'request completed')
  }
}
