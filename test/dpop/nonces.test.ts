import { test } from 'tap'
import { DpopNonces } from '../../src/dpop/nonces.js'

test('a nonce is current for a minute, accepted one more, then refused', async t => {
  let now = 1_700_000_000_000
  const nonces = new DpopNonces('s'.repeat(32), () => now)
  const first = nonces.current()
  t.equal(nonces.current(), first, 'the same within its window')
  t.ok(nonces.accepts(first))
  now += 60_000
  const second = nonces.current()
  t.not(second, first, 'a new window, a new nonce')
  t.ok(nonces.accepts(first), 'the previous one is still accepted')
  t.ok(nonces.accepts(second))
  now += 60_000
  t.notOk(nonces.accepts(first), 'two windows later it is not')
  t.notOk(nonces.accepts(undefined))
  t.notOk(nonces.accepts(''))
})

test('replicas sharing the secret accept each other\'s nonces; another secret\'s are refused', async t => {
  const now = () => 1_700_000_000_000
  const one = new DpopNonces('shared-secret-shared-secret-shared', now)
  const two = new DpopNonces('shared-secret-shared-secret-shared', now)
  const other = new DpopNonces('another-secret-another-secret-xx', now)
  t.ok(two.accepts(one.current()))
  t.notOk(other.accepts(one.current()))
  t.ok(new DpopNonces('s'.repeat(32)).current(), 'the real clock by default')
})
