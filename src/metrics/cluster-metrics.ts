import cluster, { type Worker } from 'node:cluster'

/**
 * One /metrics for the whole cluster (`npm run start:cluster` with METRICS_ENABLED=true). The
 * worker that receives a scrape asks the primary over the cluster's IPC channel; the primary
 * answers with every worker's metrics aggregated by prom-client's AggregatorRegistry, which asks
 * each worker for its registry over the same channel and sums counters and histograms (each
 * metric's `aggregator` decides, see auth-metrics.ts). Outside cluster mode none of this runs.
 *
 * The protocol: the worker sends `{ type: METRICS_REQUEST, id }`; the primary sends back
 * `{ type: METRICS_RESPONSE, id, metrics }` or `{ type: METRICS_RESPONSE, id, error }`. Any other
 * message on the channel is ignored by both sides.
 */
export const METRICS_REQUEST = 'oauth-protected-api:metrics-request'
export const METRICS_RESPONSE = 'oauth-protected-api:metrics-response'

/**
 * How long a worker waits for the primary's answer. Past prom-client's own 5 s limit for the
 * workers' answers (fixed in its cluster.js), so that error normally comes back first; under
 * Prometheus's default 10 s scrape timeout.
 */
export const CLUSTER_METRICS_TIMEOUT_MS = 6_000
/** Scrapes one worker keeps waiting at once; past that, a scrape is refused at once. */
export const MAX_PENDING_SCRAPES = 16

interface Message { type: string, id: number, metrics?: unknown, error?: unknown }

function isMessage (message: unknown, type: string): message is Message {
  return typeof message === 'object' && message !== null &&
    (message as Partial<Message>).type === type && Number.isSafeInteger((message as Partial<Message>).id)
}

/** What the primary needs of prom-client's AggregatorRegistry (a stand-in in tests). */
export interface MetricsAggregator {
  clusterMetrics: () => Promise<string>
}

async function loadAggregator (): Promise<MetricsAggregator> {
  const { AggregatorRegistry } = await import('prom-client')
  // Its constructor adds prom-client's listener for the workers' answers (once per process).
  return new AggregatorRegistry()
}

/**
 * In the primary: answer the workers' metrics requests until the returned function is called.
 * Call it before forking, so that every worker's `listening` is seen. prom-client is loaded on the
 * first request: with metrics off no worker asks, and the primary never carries it.
 *
 * The primary keeps no state per request: scrapes that arrive while the workers are being asked
 * share that round (at most one in flight, bounded by prom-client's 5 s), and each answer goes to
 * the worker that asked if it is still there. While a worker has not started listening the answer
 * is an error at once: it would not answer prom-client yet, and prom-client would wait its 5 s
 * and keep that request in its own table for good. (A worker that dies in the middle of a round
 * still leaves one entry there: that table is prom-client's, out of reach of its public API.)
 */
export function serveClusterMetrics (load: () => Promise<MetricsAggregator> = loadAggregator): () => void {
  const listening = new WeakSet<Worker>()
  let aggregator: Promise<MetricsAggregator> | undefined
  let inFlight: Promise<string> | undefined

  async function aggregate (): Promise<string> {
    // cluster.workers is there in the primary, the one process that runs this.
    const workers = Object.values(cluster.workers as NodeJS.Dict<Worker>) as Worker[]
    if (workers.some(worker => !listening.has(worker))) {
      throw new Error('a worker is still starting')
    }
    aggregator ??= load()
    return await (await aggregator).clusterMetrics()
  }

  function onListening (worker: Worker): void { listening.add(worker) }

  function onMessage (worker: Worker, message: unknown): void {
    if (!isMessage(message, METRICS_REQUEST)) return
    inFlight ??= aggregate().finally(() => { inFlight = undefined })
    void inFlight.then(metrics => ({ metrics }), (error: Error) => ({ error: error.message })).then(answer => {
      // With a callback, a worker gone meanwhile is an error passed to it (and dropped: that
      // worker's scrape is gone with it), not an 'error' event that would end the primary.
      worker.send({ type: METRICS_RESPONSE, id: message.id, ...answer }, () => {})
    })
  }

  cluster.on('listening', onListening)
  cluster.on('message', onMessage)
  return () => {
    cluster.off('listening', onListening)
    cluster.off('message', onMessage)
  }
}

/** The worker's end of the cluster channel: `process` in a cluster worker (a stand-in in tests). */
export interface PrimaryChannel {
  send: (message: unknown, sendHandle: undefined, options: undefined, callback: (error: Error | null) => void) => unknown
  on: (event: 'message' | 'disconnect', listener: (message: unknown) => void) => unknown
  off: (event: 'message' | 'disconnect', listener: (message: unknown) => void) => unknown
}

export interface ClusterScrape {
  /** Every worker's metrics in Prometheus text, from the primary; rejects on error or timeout. */
  metrics: () => Promise<string>
  /** Stops listening; scrapes still waiting are rejected. */
  close: () => void
}

type Answer = { metrics: string } | { error: string }

/**
 * In a worker: ask the primary for the cluster's metrics. Each request waits in a table until its
 * answer, its timeout, a failed send or the channel's end, whichever comes first, and then leaves
 * it; an answer nobody waits for (one that came after its timeout) is dropped.
 */
export function askPrimary (channel: PrimaryChannel, timeoutMs = CLUSTER_METRICS_TIMEOUT_MS): ClusterScrape {
  const pending = new Map<number, (answer: Answer) => void>()
  let lastId = 0

  function settle (id: number, answer: Answer): void {
    const resolve = pending.get(id)
    if (resolve === undefined) return
    pending.delete(id)
    resolve(answer)
  }
  function onMessage (message: unknown): void {
    if (!isMessage(message, METRICS_RESPONSE)) return
    settle(message.id, typeof message.metrics === 'string' ? { metrics: message.metrics } : { error: String(message.error) })
  }
  function onDisconnect (): void {
    for (const id of pending.keys()) settle(id, { error: 'the channel to the cluster primary is closed' })
  }
  channel.on('message', onMessage)
  channel.on('disconnect', onDisconnect)

  return {
    async metrics () {
      if (pending.size >= MAX_PENDING_SCRAPES) throw new Error(`${MAX_PENDING_SCRAPES} scrapes are already waiting for the cluster primary`)
      const id = ++lastId
      const answer = await new Promise<Answer>(resolve => {
        const timer = setTimeout(() => { settle(id, { error: `no answer from the cluster primary within ${timeoutMs} ms` }) }, timeoutMs)
        pending.set(id, answer => { clearTimeout(timer); resolve(answer) })
        channel.send({ type: METRICS_REQUEST, id }, undefined, undefined, error => {
          if (error !== null) settle(id, { error: `cannot ask the cluster primary: ${error.message}` })
        })
      })
      if ('error' in answer) throw new Error(answer.error)
      return answer.metrics
    },
    close () {
      channel.off('message', onMessage)
      channel.off('disconnect', onDisconnect)
      onDisconnect()
    }
  }
}
