import { write, writeSync } from 'node:fs'
import { hostname } from 'node:os'

/** How long lines gather before they are written: one write per batch, not per line. */
const BATCH_DELAY_MS = 10
/** How long to wait before retrying when the reader's pipe is full, doubling up to the last. */
const RETRY_DELAYS_MS = [1, 2, 5, 10, 20, 50]
/** At exit, how many times a full pipe is retried before the remaining lines are given up. */
const EXIT_ATTEMPTS = 200

/**
 * The service's log destination: pino hands it whole JSON lines, and the lines of each 10 ms leave
 * as one write made on libuv's thread pool, so logging never blocks a request and a flood of lines
 * costs little more than their text.
 *
 * Why not pino's own destination (sonic-boom 4): under a flood of rejections, each logged, its
 * per-line bookkeeping cost 1.6-2.3 µs a line here against 0.6 µs for this, and it can lose a chunk
 * of lines when a non-blocking pipe answers EAGAIN. Here a full pipe is retried, with back-off,
 * until the reader takes the lines; only when more than `maxPendingChars` wait are new lines
 * dropped, and a line saying how many follows the lines that were kept.
 */
export class LogLineWriter {
  readonly #fd: number
  readonly #maxPendingChars: number
  #pending: string[] = []
  #pendingChars = 0
  /** The bytes being written, or waiting for the pipe to have room. */
  #current: Buffer | null = null
  /** A write of `#current` is running on the thread pool. */
  #writing = false
  #batchTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retries = 0
  #dropped = 0
  /** The descriptor failed for good (EPIPE: nobody will read): lines are discarded. */
  #broken = false
  #idleCallbacks: Array<() => void> = []

  constructor ({ fd, maxPendingChars }: { fd: number, maxPendingChars: number }) {
    this.#fd = fd
    this.#maxPendingChars = maxPendingChars
  }

  write (line: string): boolean {
    if (this.#broken) return false
    if (this.#pendingChars + line.length > this.#maxPendingChars) {
      this.#dropped++
      return false
    }
    this.#pending.push(line)
    this.#pendingChars += line.length
    if (this.#current === null) this.#writeSoon()
    return true
  }

  /** Calls back once every line handed over so far is written (or given up). pino's logger.flush() lands here. */
  flush (callback: () => void): void {
    if (this.#idle()) {
      process.nextTick(callback)
      return
    }
    this.#idleCallbacks.push(callback)
    if (this.#batchTimer !== undefined) { // write now rather than after the batch delay
      clearTimeout(this.#batchTimer)
      this.#writeNext()
    }
  }

  /** Writes what waits, blocking: for process exit, when no callback would run any more. */
  flushSync (): void {
    if (this.#broken) return
    clearTimeout(this.#batchTimer)
    this.#batchTimer = undefined
    clearTimeout(this.#retryTimer)
    // A chunk whose write is running on the thread pool is left to it: writing it again could
    // print its lines twice.
    const rest = [this.#writing ? null : this.#current, this.#takeBatch()]
    if (!this.#writing) this.#current = null
    for (const chunk of rest) {
      if (chunk !== null && !this.#writeAllSync(chunk)) break
    }
    if (this.#idle()) this.#notifyIdle()
  }

  #idle (): boolean {
    return this.#broken || (this.#current === null && this.#pending.length === 0 && this.#dropped === 0)
  }

  #writeSoon (): void {
    // Unref'd: a waiting batch never holds the process open; at exit, flushSync writes it.
    this.#batchTimer ??= setTimeout(this.#writeNext, BATCH_DELAY_MS).unref()
  }

  readonly #writeNext = (): void => {
    this.#batchTimer = undefined
    // The batch timer is set only with lines waiting, and cleared when flushSync takes them.
    this.#current = this.#takeBatch() as Buffer
    this.#writeCurrent()
  }

  readonly #writeCurrent = (): void => {
    const chunk = this.#current as Buffer
    this.#writing = true
    write(this.#fd, chunk, 0, chunk.length, null, this.#written)
  }

  readonly #written = (error: NodeJS.ErrnoException | null, bytes: number): void => {
    this.#writing = false
    if (error?.code === 'EAGAIN') {
      // The reader's pipe is full: try again shortly, without holding the process open for it.
      const delay = RETRY_DELAYS_MS[Math.min(this.#retries++, RETRY_DELAYS_MS.length - 1)]
      this.#retryTimer = setTimeout(this.#writeCurrent, delay).unref()
      return
    }
    if (error !== null) {
      this.#giveUp()
      return
    }
    this.#retries = 0
    const chunk = this.#current as Buffer
    if (bytes < chunk.length) {
      this.#current = chunk.subarray(bytes)
      this.#writeCurrent()
      return
    }
    this.#current = null
    if (this.#pending.length > 0 || this.#dropped > 0) this.#writeSoon()
    else this.#notifyIdle()
  }

  /** The waiting lines as one chunk, and a note of any dropped after them. */
  #takeBatch (): Buffer | null {
    if (this.#dropped > 0) {
      this.#pending.push(droppedLinesNotice(this.#dropped))
      this.#dropped = 0
    }
    if (this.#pending.length === 0) return null
    const batch = Buffer.from(this.#pending.join(''))
    this.#pending = []
    this.#pendingChars = 0
    return batch
  }

  #writeAllSync (chunk: Buffer): boolean {
    let offset = 0
    for (let attempts = 0; offset < chunk.length;) {
      try {
        offset += writeSync(this.#fd, chunk, offset)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++attempts > EXIT_ATTEMPTS) return false
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5) // a short sleep
      }
    }
    return true
  }

  #giveUp (): void {
    this.#broken = true
    this.#current = null
    this.#pending = []
    this.#pendingChars = 0
    this.#notifyIdle()
  }

  #notifyIdle (): void {
    for (const callback of this.#idleCallbacks.splice(0)) callback()
  }
}

/** A line in pino's shape (level 40 is warn) counting the lines that were not written. */
function droppedLinesNotice (dropped: number): string {
  return `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, hostname: hostname(), dropped, msg: 'log lines dropped: stdout was not read fast enough' })}\n`
}
