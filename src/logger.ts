import cluster from 'node:cluster'
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import { LogLineWriter, PIPE_BUF } from './log-writer.js'

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

/** Log lines waiting for a slow stdout reader beyond this (in characters) are dropped, not kept. */
const MAX_PENDING_LOG_CHARS = 16 * 2 ** 20

let stdoutWriter: LogLineWriter | undefined

/**
 * stdout, written off the event loop and capped (LogLineWriter). Every rejection is logged, so a
 * flood of bad tokens is a flood of lines: the writes never block a request, and when the reader
 * falls more than 16 Mi characters behind, lines are dropped (and counted) rather than stalling
 * the service or growing its memory. One writer per process, so its lines never interleave; what
 * still waits when the process exits is written before it goes.
 */
function logDestination (): DestinationStream {
  if (stdoutWriter === undefined) {
    // Cluster workers share the primary's stdout: writes of whole lines within PIPE_BUF are
    // atomic, so one worker's lines never tear another's.
    const writer = new LogLineWriter({ fd: 1, maxPendingChars: MAX_PENDING_LOG_CHARS, maxWriteBytes: cluster.isWorker ? PIPE_BUF : Infinity })
    process.once('exit', () => { writer.writeWaitingSync() })
    stdoutWriter = writer
  }
  return stdoutWriter
}

/** The service's logger: our pino settings, writing to `stream`, or to stdout through LogLineWriter. */
export function serviceLogger (stream?: DestinationStream): Logger {
  return pino(loggerOptions(), stream ?? logDestination())
}
