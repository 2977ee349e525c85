import { test } from 'tap'
import { ReadonlyScopeSet } from '../../src/auth/scopes.js'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'

test('a handler cannot change a cached token for the requests after it', async t => {
  // The verified-token cache hands every request with the same token the same claims and scopes.
  // A handler that wrote to them would change what later requests see: sub, or scopes that pass
  // a scope check. Both are frozen, and the attempt fails in the handler that makes it.
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys), logs, async fastify => {
    fastify.get('/tamper', async request => {
      const attempts = {
        sub: () => { request.user.sub = 'admin' },
        nested: () => { (request.user.aud as string[]).push('https://other.example') },
        scopeAdd: () => { (request.accessToken?.scopes as Set<string>).add('read:messages') },
        scopeDelete: () => { (request.accessToken?.scopes as Set<string>).delete('read:profile') },
        scopeClear: () => { (request.accessToken?.scopes as Set<string>).clear() }
      }
      const refused = Object.entries(attempts).filter(([, attempt]) => {
        try {
          attempt()
          return false
        } catch (error) {
          return error instanceof TypeError
        }
      }).map(([name]) => name)
      return { refused, sub: request.user.sub, aud: request.user.aud, scopes: [...request.accessToken?.scopes ?? []] }
    })
  })
  t.teardown(async () => { await app.close(); await keys.close() })

  const token = keys.sign({ sub: 'client@clients', scope: 'read:profile', aud: [keys.audience] })
  const headers = { authorization: `Bearer ${token}` }
  // Three times: the second verification admits the token to the cache, the third is served from it.
  for (let round = 0; round < 3; round++) {
    const response = await app.inject({ url: '/tamper', headers })
    t.equal(response.statusCode, 200)
    t.same(response.json(), {
      refused: ['sub', 'nested', 'scopeAdd', 'scopeDelete', 'scopeClear'],
      sub: 'client@clients',
      aud: [keys.audience],
      scopes: ['read:profile']
    }, `request ${round + 1} sees the token as it was signed`)
  }
  const scoped = await app.inject({ url: '/api/private-scoped', headers })
  t.equal(scoped.statusCode, 403, 'no scope was added for the scope check either')
})

test('ReadonlyScopeSet holds what it was made with and nothing else', async t => {
  const scopes = new ReadonlyScopeSet(['a', 'b', 'a'])
  t.same([...scopes], ['a', 'b'])
  t.ok(scopes.has('a'))
  t.throws(() => scopes.add(), TypeError)
  t.same([...scopes], ['a', 'b'])
})
