/**
 * A few slots for expensive checks, and a bounded queue for the rest. scrypt runs on libuv's
 * thread pool (4 threads), which file reads and the API's own work share: unbounded, a flood of
 * token requests with made-up credentials (each costing a full scrypt, on purpose) queued there
 * and stalled the issuer's key set endpoint for seconds, past the API's key fetch timeout.
 */
export class CheckSlots {
  readonly #slots: number
  readonly #maxWaiting: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (slots: number, maxWaiting: number) {
    this.#slots = slots
    this.#maxWaiting = maxWaiting
  }

  /** Runs `check` in a slot, after those waiting before it; undefined at once when the queue is full. */
  async run<T> (check: () => Promise<T>): Promise<T | undefined> {
    if (this.#running < this.#slots) this.#running++
    else if (this.#waiting.length < this.#maxWaiting) await new Promise<void>(resolve => { this.#waiting.push(resolve) })
    else return undefined
    try {
      return await check()
    } finally {
      // The slot passes straight to the next in line, so a newcomer can never jump the queue.
      const next = this.#waiting.shift()
      if (next === undefined) this.#running--
      else next()
    }
  }
}
