import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import { pino, type Logger } from 'pino'
import { ConfigError, describeConfigError } from './config.js'
import { loggerOptions } from './logger.js'
import { serveClusterMetrics } from './metrics/cluster-metrics.js'
import { main } from './server.js'

/**
 * Several processes on one host, one port: Node 20's `net` cannot set SO_REUSEPORT, so the
 * cluster module's primary accepts connections and hands them to its workers in turn. The primary
 * serves nothing itself; each worker is the whole service (its own key set and token cache). The
 * primary only gathers the workers' metrics for a scrape (metrics/cluster-metrics.ts).
 */

export const MAX_WORKERS = 64
/** Past the workers' own 10 s drain (server.ts), a worker still running is killed. */
export const STOP_TIMEOUT_MS = 12_000

/** WORKERS from the environment: by default one worker per CPU this process may use. */
export function workerCount (value: string | undefined, cpus: number = availableParallelism()): number {
  if (value === undefined || value.trim() === '') return cpus
  const count = Number(value)
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
    throw new ConfigError('WORKERS', `must be a whole number from 1 to ${MAX_WORKERS}, got "${value}"`)
  }
  return count
}

export interface SupervisorOptions {
  workers: number
  log: Logger
  stopTimeoutMs?: number
}

export interface Supervisor {
  /** Asks every worker to drain (SIGTERM) and stops replacing them; idempotent. */
  stop: (reason: string) => void
  /** The process exit code, once every worker has exited. */
  done: Promise<number>
}

/**
 * The primary's job: fork the workers, replace one that dies after it started serving, and stop
 * them all on request. A worker that dies before it listens is a start-up failure (bad
 * configuration, port taken): replacing it would loop forever, so everything stops with code 1.
 */
export function supervise ({ workers, log, stopTimeoutMs = STOP_TIMEOUT_MS }: SupervisorOptions): Supervisor {
  const live = new Set<Worker>()
  const listening = new WeakSet<Worker>()
  let stopping = false
  let exitCode = 0
  let finish!: (code: number) => void
  const done = new Promise<number>(resolve => { finish = resolve })

  function fork (): void {
    const worker = cluster.fork()
    live.add(worker)
    worker.once('listening', () => {
      listening.add(worker)
      log.info({ worker: worker.id, pid: worker.process.pid }, 'worker listening')
    })
  }

  function finishWhenAllGone (): void {
    if (live.size > 0) return
    cluster.off('exit', onExit)
    finish(exitCode)
  }

  function stop (reason: string, code = 0): void {
    if (stopping) return
    stopping = true
    exitCode = code
    log.info({ reason, workers: live.size }, 'stopping: each worker drains its requests, then exits')
    for (const worker of live) worker.process.kill('SIGTERM')
    setTimeout(() => {
      for (const worker of live) {
        log.error({ worker: worker.id, pid: worker.process.pid }, 'worker still running after the drain timeout; killing it')
        exitCode = 1
        worker.process.kill('SIGKILL')
      }
    }, stopTimeoutMs).unref()
    finishWhenAllGone()
  }

  function onExit (worker: Worker, code: number | null, signal: string | null): void {
    live.delete(worker)
    const details = { worker: worker.id, pid: worker.process.pid, code, signal }
    if (stopping) {
      finishWhenAllGone()
    } else if (!listening.has(worker)) {
      log.error(details, 'a worker exited before it was listening; stopping (its own error is above)')
      stop('a worker failed to start', 1)
    } else {
      log.warn(details, 'worker died unexpectedly; starting a replacement')
      fork()
    }
  }

  cluster.on('exit', onExit)
  log.info({ workers }, 'starting workers')
  for (let i = 0; i < workers; i++) fork()
  return { stop: reason => stop(reason), done }
}

/**
 * `npm run start:cluster`: in the primary, supervise WORKERS workers and forward SIGTERM/SIGINT
 * as a graceful drain; in a worker, run the server as `npm start` does, minus the local issuer.
 */
export async function runCluster (env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (cluster.isPrimary) {
    let workers: number
    try {
      workers = workerCount(env.WORKERS)
    } catch (error) {
      process.stderr.write(`${describeConfigError(error) as string}\n`)
      process.exitCode = 1
      return
    }
    // One /metrics for all workers (METRICS_ENABLED): a worker's scrape asks the primary for
    // every worker's sum. Before the forks, so that every worker's start is seen.
    const stopMetrics = serveClusterMetrics()
    const supervisor = supervise({ workers, log: pino(loggerOptions()) })
    const onSignal = (signal: NodeJS.Signals): void => supervisor.stop(signal)
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
    process.exitCode = await supervisor.done
    stopMetrics()
    return
  }
  await main({ localIssuer: false })
  // A worker that could not start must exit by itself: its channel to the primary keeps it alive.
  if (process.exitCode !== undefined) process.exit()
}
