import cluster from 'node:cluster'
import { createRequire } from 'node:module'
import { hostname } from 'node:os'
import { isatty } from 'node:tty'
import { pino, type DestinationStream } from 'pino'
import type PinoPretty from 'pino-pretty'
import { isProduction } from './production.js'

/** Writes to a pipe up to this size are atomic (POSIX PIPE_BUF on Linux): never interleaved with another writer's. */
export const PIPE_BUF = 4096
/** Lines gather until this many bytes wait, or FLUSH_EVERY_MS passes: one write per batch, not per line. */
const MIN_WRITE_BYTES = 4096
const FLUSH_EVERY_MS = 100
/** Bytes of lines that may wait for a slow stdout reader; past it, lines are dropped and counted. */
const MAX_PENDING_BYTES = 16 * 2 ** 20

/** pino's asynchronous destination (sonic-boom, which pino depends on). */
type SonicBoom = ReturnType<typeof pino.destination>

/**
 * Pretty lines for a person at a terminal; JSON lines for everything else: pipes, files, log
 * collectors, tests. Production stays JSON even on a terminal (`docker run -t` gives a container
 * one), so a collector never meets a pretty line.
 */
export function logFormat (stdoutIsTerminal: boolean, nodeEnv: string | undefined): 'pretty' | 'json' {
  return stdoutIsTerminal && !isProduction(nodeEnv) ? 'pretty' : 'json'
}

let stdout: DestinationStream | undefined

/**
 * The service's stdout, made once per process so that every logger's lines go through one buffer
 * and never interleave. isatty(1), not process.stdout.isTTY: merely reading process.stdout makes
 * Node switch a pipe on fd 1 to non-blocking mode, for this process and whoever shares the pipe.
 */
export function stdoutDestination (): DestinationStream {
  stdout ??= destinationFor(logFormat(isatty(1), process.env.NODE_ENV), 1)
  return stdout
}

/** Where lines of `format` go when written to `fd`. */
export function destinationFor (format: 'pretty' | 'json', fd: number): DestinationStream {
  return format === 'pretty' ? prettyDestination(fd) : jsonDestination({ fd, maxPendingBytes: MAX_PENDING_BYTES })
}

/**
 * pino-pretty in this thread, writing synchronously: a terminal is read by a person, at a
 * person's pace. Loaded only here, so a service logging JSON never carries it (about 9 MB).
 * pino redacts before any destination sees a line, so redaction holds here too.
 */
export function prettyDestination (destination: number | NodeJS.WritableStream, colorize?: boolean): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty
  return pretty({ destination, sync: true, colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
}

export interface JsonDestinationOptions {
  fd: number
  /** Bytes that may wait for a slow reader; past it, lines are dropped and counted. */
  maxPendingBytes: number
  /** Other processes write to the same pipe (cluster workers share the primary's stdout). */
  sharedPipe?: boolean
}

/**
 * pino's own asynchronous destination, capped. Writes run on libuv's thread pool, so a reader
 * that stops reading never blocks the event loop (a full non-blocking pipe is retried every
 * 100 ms); lines wait in memory up to `maxPendingBytes`, then are dropped, and a warning line
 * counts them once a write gets through. Whatever still waits when the process exits is written
 * then: pino.destination registers that. With `sharedPipe`, each write is whole lines within
 * PIPE_BUF, so one process's lines never tear another's.
 */
export function jsonDestination ({ fd, maxPendingBytes, sharedPipe = cluster.isWorker }: JsonDestinationOptions): SonicBoom {
  const destination = pino.destination({
    dest: fd,
    sync: false,
    // sonic-boom cuts its writes at line ends, at most maxWrite bytes; minLength must stay below it.
    ...(sharedPipe ? { minLength: PIPE_BUF / 2, maxWrite: PIPE_BUF } : { minLength: MIN_WRITE_BYTES }),
    maxLength: maxPendingBytes,
    periodicFlush: FLUSH_EVERY_MS
  })
  let dropped = 0
  destination.on('drop', () => { dropped++ })
  // sonic-boom says 'write' before it frees the bytes written: announce on the next tick, with
  // room. (Each write ends in its own callback, so one announcement waits at most.)
  destination.on('write', () => { if (dropped > 0) process.nextTick(announceDropped) })
  function announceDropped (): void {
    const count = dropped
    dropped = 0
    destination.write(droppedLinesNotice(count))
    if (dropped > 0) dropped = count // the notice found no room either: the count waits for the next write
  }
  // A failed write (a full disk, EIO) stays in sonic-boom's buffer and is tried again with the next
  // write or flush, so without this listener the error would end the process. At exit, though,
  // sonic-boom's flushSync retries a failing write forever, and the process would never end: while
  // writes fail, it exits without the lines that wait. (On EPIPE, its reader gone, pino silences
  // the destination itself.)
  let failing = false
  destination.on('error', () => { failing = true })
  destination.on('write', () => { failing = false })
  const flushSync = destination.flushSync.bind(destination)
  destination.flushSync = () => { if (!failing) flushSync() }
  return destination
}

/** A line in pino's shape (level 40 is warn) counting the lines that were not written. */
function droppedLinesNotice (dropped: number): string {
  return `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, hostname: hostname(), dropped, msg: 'log lines dropped: stdout was not read fast enough' })}\n`
}
