import { test } from 'tap'
import { BoundedCache, SecondSighting } from '../../src/auth/token-cache.js'

test('a bounded cache drops its oldest entry when full', async t => {
  const cache = new BoundedCache<number>(2)
  cache.set('a', 1)
  cache.set('b', 2)
  cache.set('a', 10)
  t.equal(cache.get('a'), 10, 'updating a key does not evict')
  cache.set('c', 3)
  t.equal(cache.get('a'), undefined, 'the oldest key went')
  t.equal(cache.get('b'), 2)
  t.equal(cache.get('c'), 3)
  cache.delete('b')
  t.equal(cache.get('b'), undefined)
  cache.deleteWhere(value => value === 3)
  t.equal(cache.get('c'), undefined)
  cache.set('d', 4)
  cache.clear()
  t.equal(cache.get('d'), undefined)
})

test('capacity 0 keeps nothing', async t => {
  const cache = new BoundedCache<number>(0)
  cache.set('a', 1)
  t.equal(cache.get('a'), undefined)
})

test('admission: a token is let in on its second offer, and the memory is bounded', async t => {
  const admission = new SecondSighting(2)
  t.notOk(admission.admit('header.payload.signature-a'), 'first offer: not yet')
  t.ok(admission.admit('header.payload.signature-a'), 'second offer: in')
  t.notOk(admission.admit('header.payload.signature-a'), 'admitted once, the count starts again')
  t.notOk(admission.admit('header.payload.signature-b'))
  t.notOk(admission.admit('header.payload.signature-c'), 'at capacity everything is forgotten')
  t.notOk(admission.admit('header.payload.signature-a'), 'so a was forgotten')
  t.ok(admission.admit('header.payload.signature-c'), 'and c, seen after the reset, is remembered')
})
