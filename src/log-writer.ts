import { write, writeSync } from 'node:fs'
import { hostname } from 'node:os'

/** How long lines gather before they are written: one write per batch, not per line. */
const BATCH_DELAY_MS = 10
/** How long to wait before each retry while the reader's pipe is full; the last repeats. */
const RETRY_DELAYS_MS = [1, 2, 5, 10, 20, 50]
/** At exit, how many times a full pipe is retried before the remaining lines are given up. */
const EXIT_ATTEMPTS = 200
/** Writes to a pipe up to this size are atomic (POSIX PIPE_BUF on Linux): never interleaved with another writer's. */
export const PIPE_BUF = 4096
/** The descriptor is gone for good: nobody will read what is written to it. */
const PERMANENT_ERRORS = new Set(['EPIPE', 'EBADF'])
const NEWLINE = 0x0a

export interface LogLineWriterOptions {
  fd: number
  /** Characters that may wait, being written included; past it, lines are dropped and counted. */
  maxPendingChars: number
  /**
   * Bytes per write, cut at line ends: PIPE_BUF when other processes write to the same pipe
   * (cluster workers), so no line is torn by another's. A longer line goes alone, in one write,
   * which a pipe cannot keep whole against other writers (the service's lines are far shorter).
   */
  maxWriteBytes?: number
}

/**
 * The service's log destination: pino hands it whole JSON lines, and the lines of each 10 ms leave
 * as one write made on libuv's thread pool, so logging never blocks a request and a flood of lines
 * costs little more than their text.
 *
 * Why not pino's own destination (sonic-boom 4): under a flood of rejections, each logged, its
 * per-line bookkeeping cost 1.6-2.3 µs a line here against about 0.6 µs for this, and it can lose
 * a chunk of lines when a non-blocking pipe answers EAGAIN. Here a full pipe is retried, with
 * back-off, until the reader takes the lines; only when more than `maxPendingChars` wait are new
 * lines dropped, and a line saying how many follows the lines that were kept.
 */
export class LogLineWriter {
  readonly #fd: number
  readonly #maxPendingChars: number
  readonly #maxWriteBytes: number
  #pending: string[] = []
  #pendingChars = 0
  /** The batch being written (what is left of it), or waiting for the pipe to have room. */
  #current: Buffer | null = null
  #currentChars = 0
  /** A write of `#current` is running on the thread pool. */
  #writing = false
  #batchTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retries = 0
  #dropped = 0
  /** Lines accepted so far, and how many of them are written (or given up): flush() waits on these. */
  #accepted = 0
  #settled = 0
  #currentEnd = 0
  #flushes: Array<{ until: number, callback: () => void }> = []
  /** The descriptor failed for good (EPIPE), or the process is exiting: lines are refused. */
  #closed = false

  constructor ({ fd, maxPendingChars, maxWriteBytes = Infinity }: LogLineWriterOptions) {
    this.#fd = fd
    this.#maxPendingChars = maxPendingChars
    this.#maxWriteBytes = maxWriteBytes
  }

  /** Takes one line (pino's lines end in a newline); false when it was refused or dropped. */
  write (line: string): boolean {
    if (this.#closed) return false
    const fits = this.#pendingChars + this.#currentChars + line.length <= this.#maxPendingChars
    if (fits) {
      this.#pending.push(line)
      this.#pendingChars += line.length
      this.#accepted++
    } else {
      this.#dropped++
    }
    if (this.#current === null) this.#writeSoon()
    return fits
  }

  /**
   * Calls back once every line accepted so far is written (or given up), without waiting for the
   * batch delay. pino's logger.flush() lands here; graceful shutdown waits on it.
   */
  flush (callback: () => void): void {
    if (this.#closed || (this.#settled === this.#accepted && this.#dropped === 0)) {
      process.nextTick(callback)
      return
    }
    this.#flushes.push({ until: this.#accepted, callback })
    if (this.#current === null) this.#writeNext()
  }

  /**
   * For the process's exit, when no callback will run any more: writes what waits, blocking, and
   * closes the writer. A full non-blocking pipe is given up after about a second (a blocking one
   * blocks until read). A write already running on the thread pool is left to finish: writing it
   * again could print its lines twice. (Deliberately not named flushSync: pino calls that on
   * every fatal line, and a running service must never block on its log.)
   */
  writeWaitingSync (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#batchTimer)
    clearTimeout(this.#retryTimer)
    const rest = [this.#writing ? null : this.#current, this.#takeBatch()]
    for (const chunk of rest) {
      if (chunk !== null && !this.#writeAllSync(chunk)) break
    }
    this.#callBack(this.#flushes.splice(0))
  }

  #writeSoon (): void {
    // Unref'd: a waiting batch never holds the process open; at exit, writeWaitingSync writes it.
    this.#batchTimer ??= setTimeout(this.#writeNext, BATCH_DELAY_MS).unref()
  }

  /** Starts the next batch. Called only while nothing is being written, with lines (or a drop count) waiting. */
  readonly #writeNext = (): void => {
    clearTimeout(this.#batchTimer)
    this.#batchTimer = undefined
    this.#currentChars = this.#pendingChars
    this.#currentEnd = this.#accepted
    this.#current = this.#takeBatch() as Buffer
    this.#writeCurrent()
  }

  readonly #writeCurrent = (): void => {
    const chunk = this.#current as Buffer
    this.#writing = true
    write(this.#fd, chunk, 0, this.#chunkLength(chunk), null, this.#written)
  }

  /** All of it, or as many whole lines as fit in maxWriteBytes (at least one line). */
  #chunkLength (chunk: Buffer): number {
    if (chunk.length <= this.#maxWriteBytes) return chunk.length
    const lastEnd = chunk.lastIndexOf(NEWLINE, this.#maxWriteBytes - 1)
    if (lastEnd >= 0) return lastEnd + 1
    const firstEnd = chunk.indexOf(NEWLINE)
    return firstEnd >= 0 ? firstEnd + 1 : chunk.length
  }

  readonly #written = (error: NodeJS.ErrnoException | null, bytes: number): void => {
    this.#writing = false
    if (this.#closed) return // writeWaitingSync took over at exit
    if (error?.code === 'EAGAIN') {
      // The reader's pipe is full: try again shortly, without holding the process open for it.
      const delay = RETRY_DELAYS_MS[Math.min(this.#retries++, RETRY_DELAYS_MS.length - 1)]
      this.#retryTimer = setTimeout(this.#writeCurrent, delay).unref()
      return
    }
    this.#retries = 0
    if (error !== null) {
      if (PERMANENT_ERRORS.has(error.code as string)) {
        this.#giveUp()
        return
      }
      // Another failure (a full disk, EIO): these lines are lost, counted as dropped; later ones may go.
      this.#dropped += countLines(this.#current as Buffer)
      this.#batchDone(true)
      return
    }
    const chunk = this.#current as Buffer
    if (bytes < chunk.length) {
      this.#current = chunk.subarray(bytes)
      this.#writeCurrent()
      return
    }
    this.#batchDone()
  }

  /** `failed`: the batch was lost; a drop count alone then waits for the next line rather than retrying at once. */
  #batchDone (failed = false): void {
    this.#current = null
    this.#currentChars = 0
    this.#settled = this.#currentEnd
    const due = this.#flushes.filter(flush => flush.until <= this.#settled)
    this.#flushes = this.#flushes.filter(flush => flush.until > this.#settled)
    if (this.#pending.length > 0 || (this.#dropped > 0 && !failed)) {
      // A flush is waiting on these lines: write them now rather than after the batch delay.
      if (this.#flushes.length > 0) this.#writeNext()
      else this.#writeSoon()
    }
    this.#callBack(due)
  }

  #callBack (flushes: ReadonlyArray<{ callback: () => void }>): void {
    for (const { callback } of flushes) callback()
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
        offset += writeSync(this.#fd, chunk, offset, this.#chunkLength(chunk.subarray(offset)))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++attempts > EXIT_ATTEMPTS) return false
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5) // a short sleep
      }
    }
    return true
  }

  #giveUp (): void {
    this.#closed = true
    this.#current = null
    this.#pending = []
    this.#callBack(this.#flushes.splice(0))
  }
}

function countLines (chunk: Buffer): number {
  let lines = 0
  for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) lines++
  return lines
}

/** A line in pino's shape (level 40 is warn) counting the lines that were not written. */
function droppedLinesNotice (dropped: number): string {
  return `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, hostname: hostname(), dropped, msg: 'log lines dropped: stdout was not read fast enough, or failed' })}\n`
}
