import { test } from 'tap'
import { DEFAULT_MEMORY_CAPACITY, MemoryReplayStore } from '../../src/replay/memory-store.js'
import { ReplayStoreUnavailable } from '../../src/replay/replay-store.js'

/** A clock the test moves by hand. */
function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: ms => { time += ms } }
}

test('a key is claimed once; a replay is refused', async t => {
  const store = new MemoryReplayStore()
  t.equal(store.kind, 'memory')
  t.equal(store.capacity, DEFAULT_MEMORY_CAPACITY)
  t.equal(await store.claimOnce('jti-1', 60), true, 'first use')
  t.equal(await store.claimOnce('jti-1', 60), false, 'replay')
  t.equal(await store.claimOnce('jti-2', 60), true, 'another key is independent')
  t.same(store.health(), { ready: true })
  await store.close()
  t.equal(store.size, 0, 'close forgets everything')
  await store.close()
  t.pass('close twice is safe')
})

test('an expired key can be claimed again, and expired entries are purged', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ now: time.now })
  t.equal(await store.claimOnce('a', 10), true)
  time.advance(9_999)
  t.equal(await store.claimOnce('a', 10), false, 'a millisecond before expiry it is still a replay')
  time.advance(1)
  t.equal(await store.claimOnce('a', 10), true, 'at expiry it may be used again')
  t.equal(store.size, 1)
  await store.claimOnce('b', 10)
  time.advance(20_000)
  await store.claimOnce('c', 10)
  t.equal(store.size, 1, 'a and b were purged from the head')
})

test('a full store refuses claims (fail closed) and readiness says why, until entries expire', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 3, now: time.now })
  for (const key of ['a', 'b', 'c']) t.equal(await store.claimOnce(key, 10), true)
  const full = store.claimOnce('d', 10)
  await t.rejects(full, ReplayStoreUnavailable)
  await t.rejects(full, { message: /^the in-memory replay store is full: 3 proof identifiers have not expired yet/ })
  t.equal(await store.claimOnce('a', 10), false, 'a replay is still recognised when full')
  const health = store.health()
  t.equal(health.ready, false)
  t.match(health.reason, /full/)
  t.equal(store.size, 3, 'nothing unexpired was evicted')
  time.advance(10_000)
  t.same(store.health(), { ready: true }, 'ready again once entries expire')
  t.equal(await store.claimOnce('d', 10), true)
})

test('mixed ttls: an expired entry behind a longer-lived head is found when the store is full', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 3, now: time.now })
  await store.claimOnce('long', 100)
  await store.claimOnce('short-1', 10)
  await store.claimOnce('short-2', 20)
  await t.rejects(store.claimOnce('x', 10), ReplayStoreUnavailable, 'full, nothing expired yet (no sweep)')
  time.advance(10_000)
  t.equal(await store.claimOnce('x', 10), true, 'short-1 expired behind the head: the sweep made room')
  t.equal(store.size, 3)
  t.equal(await store.claimOnce('short-2', 10), false, 'the sweep kept what has not expired')
  t.equal(await store.claimOnce('long', 10), false)
  // What is left ('long' 110 s, 'short-2' 30 s, 'x' 30 s) is still out of order; at 20 s nothing has expired.
  await t.rejects(store.claimOnce('y', 10), ReplayStoreUnavailable)
  time.advance(10_000)
  t.equal(await store.claimOnce('y', 10), true, 'short-2 and x went in a second sweep')
  t.equal(store.size, 2)
})

test('after a sweep leaves the entries in order, a full store does not sweep again', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 2, now: time.now })
  await store.claimOnce('long', 30)
  await store.claimOnce('short', 10)
  time.advance(10_000)
  t.equal(await store.claimOnce('next', 30), true, 'the sweep dropped short; long then next are in order')
  await t.rejects(store.claimOnce('more', 30), ReplayStoreUnavailable)
  time.advance(20_000)
  t.equal(await store.claimOnce('more', 30), true, 'long expired at the head')
})

test('an expired key found by lookup is claimed again and moves to the tail', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 2, now: time.now })
  await store.claimOnce('long', 100)
  await store.claimOnce('short', 10)
  time.advance(10_000)
  t.equal(await store.claimOnce('short', 10), true, 'expired behind the head, yet claimable')
  t.equal(await store.claimOnce('short', 10), false)
})

test('arguments are checked', async t => {
  t.throws(() => new MemoryReplayStore({ capacity: 0 }), RangeError)
  t.throws(() => new MemoryReplayStore({ capacity: 1.5 }), RangeError)
  const store = new MemoryReplayStore()
  await t.rejects(store.claimOnce('a', 0), RangeError)
  await t.rejects(store.claimOnce('a', Number.NaN), RangeError)
  await t.rejects(store.claimOnce('a', Number.POSITIVE_INFINITY), RangeError)
})

test('purging is cheap: a long run at a steady rate keeps only the live window', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 1000, now: time.now })
  let accepted = 0
  for (let i = 0; i < 100_000; i++) {
    if (await store.claimOnce(`jti-${i}`, 1)) accepted++
    time.advance(10)
  }
  t.equal(accepted, 100_000, 'never full: expired entries left as fast as new ones came')
  t.ok(store.size <= 100, `at most a second's worth of entries is held (${store.size})`)
})

test('a long steady run: expired entries leave from the head, the queue is compacted, replays are still seen', async t => {
  const time = clock()
  const store = new MemoryReplayStore({ capacity: 1000, now: time.now })
  // 5,000 claims, one every 10 ms, each kept for 5 s: never more than 500 live at once.
  let refused = 0
  for (let i = 0; i < 5000; i++) {
    if (!await store.claimOnce(`k${i}`, 5)) refused++
    time.advance(10)
  }
  t.equal(refused, 0, 'every first claim accepted')
  t.ok(store.size <= 501, `at most 501 live entries (${store.size})`)
  t.equal(await store.claimOnce('k4999', 5), false, 'a recent claim is still a replay')
  t.equal(await store.claimOnce('k0', 5), true, 'an expired one can be claimed again')
})
