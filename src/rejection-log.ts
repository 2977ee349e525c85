import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { AuthRejection } from './auth/errors.js'
import { redactUrl } from './logger.js'

export const REJECTED = 'request rejected'
export const SUPPRESSED = 'rejections suppressed'

/** One reason code within the current interval: its status, and the rejections not logged. */
interface CodeCount { statusCode: number, suppressed: number }

/**
 * The auth rejections' log lines, summarised per reason code. A flood of bad tokens would
 * otherwise be a line per request: load on the service and noise for whoever reads the log.
 * Within each interval the first rejection of a code is logged in full (request id, code, status,
 * method, URL with token parameters redacted); later ones of that code are only counted, and when
 * the interval ends one line per code says how many were left out. The metrics still count every
 * rejection by code (auth_rejections_total).
 *
 * With an interval of 0, or the service logging at debug, every rejection gets its own line.
 * The map holds our reason codes only (src/auth/errors.ts), a small fixed set, so no caller can
 * grow it. The interval's timer runs only while there are counts to report, never holds the
 * process open, and close() reports what is left.
 */
export class RejectionLog {
  readonly #logger: Logger
  readonly #intervalSeconds: number
  readonly #codes = new Map<string, CodeCount>()
  #timer: NodeJS.Timeout | undefined

  constructor (logger: Logger, intervalSeconds: number) {
    this.#logger = logger
    this.#intervalSeconds = intervalSeconds
  }

  rejected (request: FastifyRequest, { code, statusCode }: AuthRejection): void {
    if (this.#intervalSeconds > 0 && !this.#logger.isLevelEnabled('debug')) {
      const count = this.#codes.get(code)
      if (count !== undefined) {
        count.suppressed++
        return
      }
      this.#codes.set(code, { statusCode, suppressed: 0 })
      this.#timer ??= setTimeout(this.#endInterval, this.#intervalSeconds * 1000).unref()
    }
    // Through the request's logger: its request id, and its route's log level.
    request.log.info({ code, statusCode, method: request.method, url: redactUrl(request.url) }, REJECTED)
  }

  /** Reports the counts so far and stops the timer (the app's onClose). */
  close (): void {
    clearTimeout(this.#timer)
    this.#endInterval()
  }

  readonly #endInterval = (): void => {
    this.#timer = undefined
    for (const [code, { statusCode, suppressed }] of this.#codes) {
      if (suppressed > 0) this.#logger.info({ code, statusCode, suppressed, intervalSeconds: this.#intervalSeconds }, SUPPRESSED)
    }
    this.#codes.clear()
  }
}
