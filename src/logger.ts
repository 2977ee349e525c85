import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import { stdoutDestination } from './log-destination.js'

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
  const query = url.indexOf('?')
  if (query === -1) return url
  // Each part starts with its ? or &. A second ? starts no parameter for Fastify, but what
  // follows it is still no text for a log.
  const parts = url.slice(query).split(/(?=[?&])/).map(part => {
    const equals = part.indexOf('=')
    return equals !== -1 && isTokenName(part.slice(1, equals)) ? `${part.slice(0, equals)}=[REDACTED]` : part
  })
  return url.slice(0, query) + parts.join('')
}

/** Fastify decodes parameter names, so `access%5Ftoken` is an access_token parameter too. */
function isTokenName (name: string): boolean {
  return name.replace(/%[0-9a-f]{2}/gi, escape => String.fromCharCode(parseInt(escape.slice(1), 16))).toLowerCase() === 'access_token'
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
      }),
      // Fastify logs some failures with the reply as `res`: its status, never the whole object.
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode })
    }
  }
}

/**
 * The service's logger: our pino settings, writing to `stream`, or to stdout: JSON lines, or
 * pretty ones on a terminal (src/log-destination.ts).
 */
export function serviceLogger (stream?: DestinationStream): Logger {
  return pino(loggerOptions(), stream ?? stdoutDestination())
}
