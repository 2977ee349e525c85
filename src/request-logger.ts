import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, Logger } from 'pino'

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogCall = (...args: unknown[]) => void

/**
 * A request's logger that becomes a pino child only when the request logs a line. Fastify makes
 * every request a child logger, which copies the parent and serializes the request id, and most
 * requests (every one with a valid token) never log: profiled at tens of thousands of requests a
 * second, that child cost about as much as the token check. A line, when there is one, is the
 * child's line, request id and route log level included. Public pino API only.
 */
class RequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  get level (): LevelWithSilentOrString {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level
  }

  /** This request's level only, as on a pino child; the parent keeps its own. */
  set level (level: LevelWithSilentOrString) {
    this.#logger().level = level
  }

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options)
  }

  fatal (...args: unknown[]): void { this.#log('fatal', args) }
  error (...args: unknown[]): void { this.#log('error', args) }
  warn (...args: unknown[]): void { this.#log('warn', args) }
  info (...args: unknown[]): void { this.#log('info', args) }
  debug (...args: unknown[]): void { this.#log('debug', args) }
  trace (...args: unknown[]): void { this.#log('trace', args) }
  silent (): void {}

  #logger (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  #log (method: LogMethod, args: unknown[]): void {
    // pino's methods are overloaded; the arguments go through exactly as they came.
    (this.#logger()[method] as LogCall)(...args)
  }
}

/** Fastify's `childLoggerFactory` for `logger`: a RequestLogger per request rather than a pino child. */
export function requestLoggerFactory (logger: Logger): (bindings: Bindings, options: ChildLoggerOptions) => FastifyBaseLogger {
  return (bindings, options) => new RequestLogger(logger, bindings, options)
}
