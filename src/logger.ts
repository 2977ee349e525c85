import { LogController } from 'fastify'
import { destination, stdSerializers, type DestinationStream, type LoggerOptions } from 'pino'

/**
 * Where credentials could appear in a log object; pino replaces them before anything is written.
 * Explicit paths only: a wildcard path costs redaction work on every request's child logger.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'body.client_secret',
  'body.password',
  'body.access_token'
]

/** A URL with the value of any access_token parameter replaced, for log lines. */
export function redactUrl (url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/gi, '$1[REDACTED]')
}

/**
 * pino options for the service: JSON lines, credentials redacted, request lines that carry only
 * method, URL (token parameters redacted) and remote address. The level is applied once the
 * environment is validated.
 */
export function loggerOptions (): LoggerOptions {
  return {
    level: 'info',
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: {
      // Fastify logs client errors with the raw request bytes (rawPacket), Authorization included.
      err: (error: Error) => {
        const { rawPacket: _rawPacket, ...serialized } = stdSerializers.err(error) as ReturnType<typeof stdSerializers.err> & { rawPacket?: unknown }
        return serialized
      },
      req: (request: { method: string, url: string, ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip
      })
    }
  }
}

/** Log lines waiting for a slow stdout reader beyond this are dropped, not kept. */
const MAX_PENDING_LOG_BYTES = 16 * 2 ** 20

/**
 * stdout, written asynchronously (pino's default destination) with a cap on what may wait. Every
 * rejection is logged, so a flood of bad tokens is a flood of lines: the writes never block the
 * event loop, and when the reader falls more than 16 MiB behind, lines are dropped rather than
 * stalling the service or growing its memory. pino flushes what is pending when the process exits.
 */
function logDestination (): DestinationStream {
  return destination({ dest: 1, sync: false, maxLength: MAX_PENDING_LOG_BYTES })
}

/**
 * Fastify's logging options: our pino settings, to `stream` or stdout, and Fastify's own
 * per-request lines off (the request-log plugin writes them when LOG_REQUESTS is on).
 */
export function loggingOptions (stream?: DestinationStream): { logger: LoggerOptions & { stream?: DestinationStream }, logController: LogController } {
  return {
    logger: { ...loggerOptions(), stream: stream ?? logDestination() },
    logController: new LogController({ disableRequestLogging: true })
  }
}
