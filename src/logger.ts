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

/**
 * stdout, written in batches of 4 KiB, and at least every 250 ms. Every rejection is logged, so a
 * flood of bad tokens is a flood of lines: one write per line cost a quarter of the throughput
 * under S5 in the benchmark (the ours-log-* targets measure it), batches cost almost nothing.
 * pino flushes what is left when the process exits; a SIGKILL loses at most the last batch.
 */
export function logDestination (): DestinationStream {
  return destination({ dest: 1, minLength: 4096, periodicFlush: 250, sync: false })
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
