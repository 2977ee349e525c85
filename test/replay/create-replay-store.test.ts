import t from 'tap'
import { createReplayStore, redisUrlProblem, waitForReplayStore } from '../../src/replay/create-replay-store.js'
import { MemoryReplayStore } from '../../src/replay/memory-store.js'
import { RedisReplayStore, redisAddress } from '../../src/replay/redis-store.js'
import { freePort, requireRedisServer, startRedisServer } from '../helpers/redis-server.js'

t.test('no REDIS_URL: an in-memory store, with the capacity asked', async t => {
  const store = createReplayStore({ capacity: 7 })
  t.teardown(() => store.close())
  t.type(store, MemoryReplayStore)
  t.equal((store as MemoryReplayStore).capacity, 7)
  t.same(await waitForReplayStore(store, 1000), { ready: true })
  t.type(createReplayStore({ redisUrl: '' }), MemoryReplayStore, 'an empty REDIS_URL is unset')
})

t.test('a REDIS_URL that is down: start-up waits a moment, then goes on with readiness saying why', async t => {
  const port = await freePort()
  const store = createReplayStore({ redisUrl: `redis://:secret@127.0.0.1:${port}` })
  t.teardown(() => store.close())
  t.type(store, RedisReplayStore)
  t.equal(store.kind, 'redis')
  const started = performance.now()
  const health = await waitForReplayStore(store, 300)
  t.ok(performance.now() - started < 1000, 'it did not wait for Redis')
  t.same(health, { ready: false, reason: `redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED)` })
})

t.test('a REDIS_URL that is up: ready once connected, and logs through the log given', async t => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const messages: string[] = []
  const store = createReplayStore({ redisUrl: redis.url, log: { info: (_, message) => { messages.push(message) }, warn: (_, message) => { messages.push(message) } } })
  t.teardown(() => store.close())
  t.same(await waitForReplayStore(store, 5000), { ready: true })
  t.same(messages, ['replay store: connected to redis'])
})

t.test('REDIS_URL validation names the problem, never the URL', async t => {
  t.equal(redisUrlProblem('redis://127.0.0.1:6379'), undefined)
  t.equal(redisUrlProblem('rediss://user:secret@cache.internal:6380/2'), undefined)
  t.equal(redisUrlProblem('redis://cache/'), undefined)
  t.equal(redisUrlProblem('redis://[::1]'), undefined)
  const problems: Array<[string, RegExp]> = [
    ['cache.internal:6379', /^must start with redis:\/\/ or rediss:\/\/$/],
    ['secretuser:secret@cache', /^must start with redis:\/\/ or rediss:\/\/$/],
    ['http://cache:6379', /^must start with redis:\/\/ or rediss:\/\//],
    ['not a url secret', /^is not a URL/],
    ['redis://:secret@cache:99999', /^is not a URL/],
    ['redis://', /^names no host/],
    ['redis:///0', /^names no host/],
    ['redis://cache/db0', /^must have a database number as its path/]
  ]
  for (const [url, problem] of problems) {
    const message = redisUrlProblem(url)
    t.match(message, problem, url)
    t.notMatch(message, 'secret', 'the URL is not repeated')
  }
})

t.test('logs and readiness name a Redis by host and port only', async t => {
  t.equal(redisAddress('redis://user:secret@cache.internal:6380/2'), 'cache.internal:6380')
  t.equal(redisAddress('rediss://:secret@cache.internal'), 'cache.internal:6379')
  t.equal(redisAddress('redis://[::1]:7000'), '[::1]:7000')
})
