import cluster, { type Worker } from 'node:cluster'
import { EventEmitter, once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import {
  askPrimary, CLUSTER_METRICS_TIMEOUT_MS, MAX_PENDING_SCRAPES, METRICS_REQUEST, METRICS_RESPONSE,
  serveClusterMetrics
} from '../src/metrics/cluster-metrics.js'
import { envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'
import { freePort } from './helpers/ports.js'

const METRICS_WORKER = fileURLToPath(new URL('./fixtures/metrics-worker.ts', import.meta.url))
const STAND_IN_WORKER = fileURLToPath(new URL('./fixtures/cluster-worker.js', import.meta.url))

/** Lets every promise already settled run its reactions. */
const flush = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** The messages a worker does not understand: ignored, whoever sends them. */
const UNKNOWN = [null, 'hello', 42, {}, { type: 'other', id: 1 }, { type: METRICS_REQUEST, id: '1' }, { type: METRICS_RESPONSE, id: 1.5 }]

/** A worker's channel to the primary, played by the test: what was sent, and answers on demand. */
class StandInChannel extends EventEmitter {
  readonly sent: Array<{ type: string, id: number }> = []
  failWith: Error | null = null
  send (message: unknown, _handle: undefined, _options: undefined, callback: (error: Error | null) => void): boolean {
    this.sent.push(message as { type: string, id: number })
    const error = this.failWith
    process.nextTick(() => { callback(error) })
    return true
  }

  answer (fields: Record<string, unknown>, id = this.sent[this.sent.length - 1].id): void {
    this.emit('message', { type: METRICS_RESPONSE, id, ...fields })
  }
}

test('a worker asks the primary: one request with an id, answered by the response with that id', async t => {
  const channel = new StandInChannel()
  const primary = askPrimary(channel)
  t.teardown(() => { primary.close() })
  const first = primary.metrics()
  const second = primary.metrics()
  t.same(channel.sent, [{ type: METRICS_REQUEST, id: 1 }, { type: METRICS_REQUEST, id: 2 }])
  for (const message of UNKNOWN) channel.emit('message', message)
  channel.answer({ metrics: 'unknown id' }, 99)
  channel.answer({ metrics: 'second\n' }, 2)
  channel.answer({ metrics: 'first\n' }, 1)
  t.equal(await first, 'first\n')
  t.equal(await second, 'second\n')
  channel.answer({ metrics: 'again' }, 1)
  t.pass('an answer nobody waits for is dropped')
})

test('the primary\'s error, a timeout, a failed send or the channel\'s end reject the scrape', async t => {
  const channel = new StandInChannel()
  const primary = askPrimary(channel, 30)

  const refused = primary.metrics()
  channel.answer({ error: 'a worker is still starting' })
  await t.rejects(refused, { message: 'a worker is still starting' })
  const garbled = primary.metrics()
  channel.answer({})
  await t.rejects(garbled, { message: 'undefined' }, 'an answer with neither metrics nor error')

  const started = Date.now()
  const unanswered = primary.metrics()
  await t.rejects(unanswered, { message: 'no answer from the cluster primary within 30 ms' })
  t.ok(Date.now() - started < 1000)
  channel.answer({ metrics: 'too late' })

  channel.failWith = new Error('channel closed')
  await t.rejects(primary.metrics(), { message: 'cannot ask the cluster primary: channel closed' })
  channel.failWith = null

  const cut = primary.metrics()
  channel.emit('disconnect')
  await t.rejects(cut, { message: 'the channel to the cluster primary is closed' })

  const waiting = primary.metrics()
  primary.close()
  await t.rejects(waiting, { message: 'the channel to the cluster primary is closed' })
  t.equal(channel.listenerCount('message'), 0)
  t.equal(channel.listenerCount('disconnect'), 0)
})

test('a worker keeps at most MAX_PENDING_SCRAPES waiting; more are refused at once', async t => {
  const channel = new StandInChannel()
  const primary = askPrimary(channel)
  const waiting = Array.from({ length: MAX_PENDING_SCRAPES }, async () => await primary.metrics().catch((error: Error) => error.message))
  await t.rejects(primary.metrics(), { message: `${MAX_PENDING_SCRAPES} scrapes are already waiting for the cluster primary` })
  t.equal(channel.sent.length, MAX_PENDING_SCRAPES, 'the refused one was not sent')
  primary.close()
  t.same(new Set(await Promise.all(waiting)), new Set(['the channel to the cluster primary is closed']))
  t.ok(CLUSTER_METRICS_TIMEOUT_MS > 5_000, 'longer than prom-client\'s own wait for the workers')
})

/** A worker as the primary sees it, played by the test: what the primary sent it. */
function standInWorker (gone = false) {
  const sent: unknown[] = []
  const worker = {
    send (message: unknown, callback: (error: Error | null) => void) {
      sent.push(message)
      callback(gone ? new Error('channel closed') : null)
      return !gone
    }
  }
  return { worker: worker as unknown as Worker, sent }
}

test('the primary: each request answered with the aggregation; one round at a time; unknown messages ignored', async t => {
  let rounds = 0
  let loads = 0
  let finishRound!: (result: string | Error) => void
  const stop = serveClusterMetrics(async () => {
    loads++
    return {
      clusterMetrics: async () => {
        rounds++
        const result = await new Promise<string | Error>(resolve => { finishRound = resolve })
        if (result instanceof Error) throw result
        return result
      }
    }
  })
  t.teardown(stop)
  const a = standInWorker()
  const b = standInWorker()

  for (const message of UNKNOWN) cluster.emit('message', a.worker, message)
  await flush()
  t.equal(loads, 0, 'nothing asked, nothing loaded')
  t.same(a.sent, [])

  cluster.emit('message', a.worker, { type: METRICS_REQUEST, id: 7 })
  cluster.emit('message', b.worker, { type: METRICS_REQUEST, id: 7 })
  await flush()
  t.equal(rounds, 1, 'scrapes that arrive together share one round')
  finishRound('# all workers\n')
  await flush()
  t.same(a.sent, [{ type: METRICS_RESPONSE, id: 7, metrics: '# all workers\n' }])
  t.same(b.sent, [{ type: METRICS_RESPONSE, id: 7, metrics: '# all workers\n' }])

  cluster.emit('message', a.worker, { type: METRICS_REQUEST, id: 8 })
  await flush()
  t.equal(rounds, 2, 'the next scrape, the next round')
  finishRound(new Error('Operation timed out.'))
  await flush()
  t.same(a.sent[1], { type: METRICS_RESPONSE, id: 8, error: 'Operation timed out.' })
  t.equal(loads, 1, 'prom-client is loaded once')

  const gone = standInWorker(true)
  cluster.emit('message', gone.worker, { type: METRICS_REQUEST, id: 1 })
  await flush()
  finishRound('# all workers\n')
  await flush()
  t.equal(gone.sent.length, 1, 'a worker gone meanwhile: the failed send is dropped, the primary carries on')

  const listeners = cluster.listenerCount('message')
  stop()
  t.equal(cluster.listenerCount('message'), listeners - 1)
  cluster.emit('message', a.worker, { type: METRICS_REQUEST, id: 9 })
  await flush()
  t.equal(rounds, 3, 'stopped: no more rounds')
})

test('the primary: while a worker has not started listening, the answer is an error at once', async t => {
  cluster.setupPrimary({ exec: STAND_IN_WORKER, args: ['ok'] })
  let rounds = 0
  const stop = serveClusterMetrics(async () => ({ clusterMetrics: async () => { rounds++; return '# all workers\n' } }))
  t.teardown(stop)
  const starting = cluster.fork()
  const asker = standInWorker()
  cluster.emit('message', asker.worker, { type: METRICS_REQUEST, id: 1 })
  await flush()
  t.same(asker.sent, [{ type: METRICS_RESPONSE, id: 1, error: 'a worker is still starting' }])
  t.equal(rounds, 0)
  await once(starting, 'listening')
  cluster.emit('message', asker.worker, { type: METRICS_REQUEST, id: 2 })
  await flush()
  t.same(asker.sent[1], { type: METRICS_RESPONSE, id: 2, metrics: '# all workers\n' })
  starting.process.kill('SIGTERM')
  await once(starting, 'exit')
})

/** Forks one worker running the real service; resolves once it listens. */
async function forkService (env: Record<string, string>): Promise<Worker> {
  cluster.setupPrimary({ exec: METRICS_WORKER, args: [JSON.stringify(env)] })
  const worker = cluster.fork()
  await once(worker, 'listening')
  return worker
}

async function stopWorker (worker: Worker): Promise<void> {
  worker.process.kill('SIGTERM')
  await once(worker, 'exit')
}

test('a real worker: /metrics answers what the primary answers, and 503 with a JSON body on its error', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const port = await freePort()
  const env = envFor(keys, { PORT: String(port), HOST: '127.0.0.1', METRICS_ENABLED: 'true', LOG_LEVEL: 'silent' })
  const scrape = async () => await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } })

  // The test is the primary, and answers as told.
  let answer: Record<string, unknown> = { error: 'nothing to aggregate here' }
  const fakePrimary = (worker: Worker, message: { type?: string, id?: number }): void => {
    if (message.type !== METRICS_REQUEST) return
    worker.send({ type: 'other', id: message.id })
    worker.send({ type: METRICS_RESPONSE, id: Number(message.id) + 1000, metrics: 'not this one' })
    worker.send({ type: METRICS_RESPONSE, id: message.id, ...answer })
  }
  cluster.on('message', fakePrimary)
  const worker = await forkService(env)

  const refused = await scrape()
  t.equal(refused.status, 503)
  t.match(refused.headers.get('content-type'), /^application\/json/)
  t.same(await refused.json(), {
    statusCode: 503,
    error: 'Service Unavailable',
    code: 'METRICS_UNAVAILABLE',
    message: 'The cluster\'s metrics could not be gathered: nothing to aggregate here'
  })

  answer = { metrics: '# from the primary\n' }
  const answered = await scrape()
  t.equal(answered.status, 200)
  t.match(answered.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  t.equal(await answered.text(), '# from the primary\n', 'unknown messages and other ids were ignored')
  cluster.off('message', fakePrimary)
  await stopWorker(worker)

  // The real primary side, in this process, with prom-client's aggregation.
  const stop = serveClusterMetrics()
  t.teardown(stop)
  const served = await forkService(env)
  t.equal((await fetch(`http://127.0.0.1:${port}/api/public`, { headers: { connection: 'close' } })).status, 200)
  const text = await (await scrape()).text()
  t.match(text, /^http_request_duration_seconds_count\{method="GET",route="\/api\/public",status_code="200"\} 1$/m)
  t.match(text, new RegExp(`^auth_keyset_keys\\{issuer="${keys.issuer}"\\} 1$`, 'm'))
  await stopWorker(served)
})
