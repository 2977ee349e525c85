import { test } from 'tap'
import { buildApp, envFor } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'

// The verifier counts verified-token cache hits and misses (for the metrics), whatever else happens.

test('a token verified twice before is a hit; anything else is a miss', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys))
  t.teardown(async () => { await app.close(); await keys.close() })
  t.same(app.tokenCacheStats(), { hits: 0, misses: 0 })
  const token = keys.sign()
  const call = (value: string) => app.inject({ url: '/api/private', headers: { authorization: `Bearer ${value}` } })
  for (let i = 0; i < 3; i++) t.equal((await call(token)).statusCode, 200)
  t.equal((await call('not.a.jwt')).statusCode, 401)
  t.equal((await call('not.a.jwt')).statusCode, 401, 'a remembered rejection is still a miss of the verified-token cache')
  t.same(app.tokenCacheStats(), { hits: 1, misses: 4 }, 'cached on its second verification, a hit on its third use')
})

test('tokens used once do not push out the ones being reused', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { TOKEN_CACHE_SIZE: '2' }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const call = async (value: string) => (await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${value}` } })).statusCode
  const reused = keys.sign()
  t.same([await call(reused), await call(reused)], [200, 200])
  const before = app.tokenCacheStats()
  for (let i = 0; i < 5; i++) t.equal(await call(keys.sign({ jti: `once-${i}` })), 200, 'a token used once is accepted')
  t.equal(await call(reused), 200)
  t.same(app.tokenCacheStats(), { hits: before.hits + 1, misses: before.misses + 5 }, 'the reused token is still cached, in a cache of 2')
})

test('with the cache off every verification is a miss', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { TOKEN_CACHE_SIZE: '0' }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const token = keys.sign()
  for (let i = 0; i < 2; i++) await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${token}` } })
  t.same(app.tokenCacheStats(), { hits: 0, misses: 2 })
})
