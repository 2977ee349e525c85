import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { DEFAULT_PREFIX, RedisReplayStore, type ReplayStoreLog } from '../../src/replay/redis-store.js'
import { ReplayStoreUnavailable } from '../../src/replay/replay-store.js'
import { freePort, requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

const PASSWORD = 'pa55-w0rd-never-logged'

/** Every line the store logged, as level and message. */
function recordingLog (): ReplayStoreLog & { lines: Array<{ level: 'warn' | 'info', message: string, details: object }> } {
  const lines: Array<{ level: 'warn' | 'info', message: string, details: object }> = []
  return {
    lines,
    warn: (details, message) => { lines.push({ level: 'warn', message, details }) },
    info: (details, message) => { lines.push({ level: 'info', message, details }) }
  }
}

/** Waits until `condition` holds, checking every 20 ms; fails after `ms`. */
async function until (condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** How long a promise takes to settle, and whether it rejected with what. */
async function timed<T> (promise: Promise<T>): Promise<{ ms: number, error: unknown }> {
  const started = performance.now()
  try {
    await promise
    return { ms: performance.now() - started, error: undefined }
  } catch (error) {
    return { ms: performance.now() - started, error }
  }
}

/** A store that is closed when the test ends. */
function storeFor (t: Test, options: ConstructorParameters<typeof RedisReplayStore>[0]): RedisReplayStore {
  const store = new RedisReplayStore(options)
  t.teardown(() => store.close())
  return store
}

if (requireRedisServer(t)) {
  t.test('a key is claimed once, under the prefix, for the ttl asked (rounded up)', async t => {
    const redis = await startRedisServer(t)
    const store = storeFor(t, { url: redis.url })
    t.equal(store.kind, 'redis')
    t.equal(await store.waitUntilConnected(5000), true)
    t.same(store.health(), { ready: true })
    t.equal(await store.claimOnce('jti-1', 60), true, 'first use')
    t.equal(await store.claimOnce('jti-1', 60), false, 'replay')
    t.equal(await store.claimOnce('jti-2', 1.2), true, 'another key')
    const inspect = new Redis(redis.url)
    t.teardown(() => inspect.quit())
    t.equal(await inspect.get(`${DEFAULT_PREFIX}jti-1`), '1')
    const ttl = await inspect.pttl(`${DEFAULT_PREFIX}jti-1`)
    t.ok(ttl > 59_000 && ttl <= 60_000, `expires in 60 s (${ttl} ms)`)
    t.equal(await inspect.ttl(`${DEFAULT_PREFIX}jti-2`), 2, '1.2 s is kept for 2 s, never less than asked')
  })

  t.test('an expired key can be claimed again; a custom prefix is used', async t => {
    const redis = await startRedisServer(t)
    const store = storeFor(t, { url: redis.url, prefix: 'test:' })
    await store.waitUntilConnected(5000)
    t.equal(await store.claimOnce('short', 1), true)
    t.equal(await store.claimOnce('short', 1), false)
    await new Promise(resolve => setTimeout(resolve, 1100))
    t.equal(await store.claimOnce('short', 1), true, 'after the ttl the key is free again')
    const inspect = new Redis(redis.url)
    t.teardown(() => inspect.quit())
    t.same(await inspect.keys('*'), ['test:short'])
  })

  t.test('two replicas (two connections) racing on one proof: exactly one wins', async t => {
    const redis = await startRedisServer(t)
    const a = storeFor(t, { url: redis.url })
    const b = storeFor(t, { url: redis.url })
    await Promise.all([a.waitUntilConnected(5000), b.waitUntilConnected(5000)])
    const claims = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).claimOnce('raced', 60))
    const results = await Promise.all(claims)
    t.equal(results.filter(won => won).length, 1, 'one true, 49 false')
    const distinct = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).claimOnce(`key-${i}`, 60)))
    t.ok(distinct.every(won => won), 'distinct keys are all first uses')
  })

  t.test('an outage: claims fail fast with 503-worthy errors, readiness says why, the store recovers by itself', async t => {
    const redis = await startRedisServer(t, { password: PASSWORD })
    const log = recordingLog()
    const store = storeFor(t, { url: redis.url, log })
    t.equal(await store.waitUntilConnected(5000), true)
    t.equal(await store.claimOnce('before', 60), true)

    await redis.stop()
    const during = await timed(store.claimOnce('during', 60))
    t.type(during.error, ReplayStoreUnavailable, 'the claim is refused, not let through')
    t.ok(during.ms < 1000, `and settles at once (${Math.round(during.ms)} ms)`)
    await until(() => !store.health().ready)
    const health = store.health()
    t.match(health.reason, new RegExp(`^redis at 127\\.0\\.0\\.1:${redis.port} is unreachable \\(`))
    // Let several reconnections fail, to show the loss is logged once.
    await new Promise(resolve => setTimeout(resolve, 800))
    const refused = await timed(store.claimOnce('during', 60))
    t.type(refused.error, ReplayStoreUnavailable)
    t.match((refused.error as Error).message, /is unreachable \(ECONNREFUSED\)/)
    t.ok(refused.ms < 100, `refused without trying while disconnected (${Math.round(refused.ms)} ms)`)
    t.match(store.health().reason, /is unreachable \(ECONNREFUSED\)/)

    await redis.start()
    await until(() => store.health().ready)
    t.equal(await store.claimOnce('after', 60), true, 'claims work again without a restart')
    t.same(log.lines.map(line => [line.level, line.message]), [
      ['info', 'replay store: connected to redis'],
      ['warn', `replay store: redis at 127.0.0.1:${redis.port} is unreachable (${(log.lines[1]?.details as { reason: string }).reason}); DPoP proofs are refused with 503 until it is back`],
      ['info', 'replay store: redis is reachable again']
    ], 'one line for the loss, one for the recovery')
    const everything = JSON.stringify([log.lines, health, (during.error as Error).message, (refused.error as Error).message])
    t.notMatch(everything, PASSWORD, 'the password appears nowhere')
  })

  t.test('a Redis that is down at start-up: start-up does not wait forever, the store connects when it comes', async t => {
    const port = await freePort()
    const log = recordingLog()
    const store = storeFor(t, { url: `redis://user:${PASSWORD}@127.0.0.1:${port}/0`, log })
    t.match(store.health(), { ready: false, reason: `redis at 127.0.0.1:${port} is not connected yet` })
    t.equal(await store.waitUntilConnected(300), false, 'gives up waiting, keeps connecting')
    t.same(store.health(), { ready: false, reason: `redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED)` })
    await t.rejects(store.claimOnce('a', 60), new ReplayStoreUnavailable(`redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED)`))
    t.equal(log.lines.length, 1)
    t.notMatch(JSON.stringify(log.lines), PASSWORD)
    await store.close()
    t.equal(await store.waitUntilConnected(300), false, 'a closed store never connects')
  })

  t.test('a wrong password: readiness names the refusal, not the password', async t => {
    const redis = await startRedisServer(t, { password: PASSWORD })
    const store = storeFor(t, { url: `redis://:not-${PASSWORD}@127.0.0.1:${redis.port}` })
    await until(() => store.health().reason !== `redis at 127.0.0.1:${redis.port} is not connected yet`)
    const { reason } = store.health()
    t.match(reason, `redis at 127.0.0.1:${redis.port} is unreachable (WRONGPASS`)
    t.notMatch(reason, PASSWORD)
    await t.rejects(store.claimOnce('a', 60), ReplayStoreUnavailable)
  })

  t.test('a Redis that hangs: claims time out within the command timeout; readiness follows', async t => {
    const redis = await startRedisServer(t)
    const store = storeFor(t, { url: redis.url, commandTimeoutMs: 200 })
    await store.waitUntilConnected(5000)
    redis.pause()
    const hung = await timed(store.claimOnce('hung', 60))
    t.same(hung.error, new ReplayStoreUnavailable(`redis at 127.0.0.1:${redis.port} did not answer within 200 ms`))
    t.ok(hung.ms >= 150 && hung.ms < 1000, `settled after the timeout (${Math.round(hung.ms)} ms)`)
    t.same(store.health(), { ready: false, reason: `redis at 127.0.0.1:${redis.port} did not answer within 200 ms` })
    t.equal(store.health().ready, false, 'one probe at a time')
    await new Promise(resolve => setTimeout(resolve, 400))
    t.equal(store.health().ready, false, 'the probe timed out too: still not ready')
    redis.resume()
    await until(() => store.health().ready)
    t.equal(await store.claimOnce('hung', 60), false, 'the timed-out SET did reach Redis: a retry of that proof is a replay')
    t.equal(await store.claimOnce('fresh', 60), true)
  })

  t.test('a claim that times out is cleared by the next answer', async t => {
    const redis = await startRedisServer(t)
    const store = storeFor(t, { url: redis.url, commandTimeoutMs: 200 })
    await store.waitUntilConnected(5000)
    redis.pause()
    await t.rejects(store.claimOnce('a', 60), ReplayStoreUnavailable)
    redis.resume()
    t.equal(await store.claimOnce('b', 60), true, 'claims are still tried while stalled')
    t.same(store.health(), { ready: true })
  })

  t.test('a Redis error reply is a refusal that names it', async t => {
    const redis = await startRedisServer(t, { password: PASSWORD })
    const store = storeFor(t, { url: redis.url })
    await store.waitUntilConnected(5000)
    const admin = new Redis(redis.url)
    t.teardown(() => admin.disconnect())
    // A Redis out of memory refuses writes: the claim is refused (503), never taken as a first use.
    await admin.config('SET', 'maxmemory', '1')
    await t.rejects(store.claimOnce('a', 60), { name: 'ReplayStoreUnavailable', message: /^redis at 127\.0\.0\.1:\d+ could not record the proof \(OOM / })
    t.same(store.health(), { ready: true }, 'the connection is fine')
  })

  t.test('close: quits cleanly, twice is safe, and a closed store refuses', async t => {
    const redis = await startRedisServer(t)
    const store = new RedisReplayStore({ url: redis.url })
    await store.waitUntilConnected(5000)
    await store.close()
    await store.close()
    t.same(store.health(), { ready: false, reason: 'the Redis replay store is closed' })
    await t.rejects(store.claimOnce('a', 60), new ReplayStoreUnavailable('the Redis replay store is closed'))
    t.equal(await store.waitUntilConnected(100), false)
  })

  t.test('close while disconnected, and while Redis hangs, does not throw or wait long', async t => {
    const redis = await startRedisServer(t)
    const down = new RedisReplayStore({ url: `redis://127.0.0.1:${await freePort()}` })
    await until(() => /unreachable \(ECONNREFUSED\)/.test(down.health().reason ?? ''))
    await down.close()
    t.pass('closed a store that never connected')
    const hung = new RedisReplayStore({ url: redis.url, commandTimeoutMs: 200 })
    await hung.waitUntilConnected(5000)
    redis.pause()
    const closing = await timed(hung.close())
    redis.resume()
    t.equal(closing.error, undefined)
    t.ok(closing.ms < 1000, `QUIT timed out, the connection was dropped (${Math.round(closing.ms)} ms)`)
  })

  t.test('arguments are checked', async t => {
    const redis = await startRedisServer(t)
    const store = storeFor(t, { url: redis.url })
    await store.waitUntilConnected(5000)
    t.equal(await store.waitUntilConnected(5000), true, 'already connected: at once')
    await t.rejects(store.claimOnce('a', 0), RangeError)
    await t.rejects(store.claimOnce('a', Number.NaN), RangeError)
    await t.rejects(store.claimOnce('a', Number.POSITIVE_INFINITY), RangeError)
  })

  t.test('a pino logger fits the log option', async t => {
    const redis = await startRedisServer(t)
    const lines: string[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line) } })
    const store = storeFor(t, { url: redis.url, log: logger })
    await store.waitUntilConnected(5000)
    t.match(JSON.parse(lines[0] ?? '{}'), { level: 30, redis: `127.0.0.1:${redis.port}`, msg: 'replay store: connected to redis' })
  })
}
