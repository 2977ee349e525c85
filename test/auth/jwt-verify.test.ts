import { test } from 'tap'
import { VerifiedToken } from '../../src/auth/claims.js'
import { buildApp, envFor } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { keySetOf } from '../helpers/issuers.js'

// A user of @fastify/jwt verifies by hand: `await request.jwtVerify()` in a hook of a route the
// plugin leaves public, then the decorated scope check. It must behave exactly as the route
// declaration does, and verify the token once.

test('request.jwtVerify() then fastify.requireScopes(): the verdicts and request state of a declared route', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/by-hand-scoped', {
      config: { auth: false },
      onRequest: async request => { await request.jwtVerify() },
      preHandler: fastify.requireScopes(['read:messages'])
    }, async request => {
      const user = request.user as Record<string, unknown>
      let changed = true
      try {
        user.sub = 'someone-else'
      } catch {
        changed = false
      }
      return {
        sub: request.user.sub,
        sameClaims: request.accessToken?.claims === request.user,
        verified: request.accessToken instanceof VerifiedToken,
        scopes: [...request.accessToken?.scopes ?? []],
        frozen: Object.isFrozen(request.user) && !changed
      }
    })
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  // Every verification asks the key set for the token's key exactly once.
  let keyLookups = 0
  const keySet = keySetOf(app)
  const get = keySet.get.bind(keySet)
  keySet.get = kid => { keyLookups++; return get(kid) }

  const withScope = keys.sign({ sub: 'svc@clients', scope: 'read:messages' })
  const granted = await app.inject({ url: '/by-hand-scoped', headers: { authorization: `Bearer ${withScope}` } })
  t.equal(granted.statusCode, 200, 'a valid token with read:messages gets in (it was 401 AUTH_MISSING_TOKEN)')
  t.same(granted.json(), { sub: 'svc@clients', sameClaims: true, verified: true, scopes: ['read:messages'], frozen: true })
  t.equal(keyLookups, 1, 'the token was verified once')

  const views = async (token: string | undefined) => await Promise.all(['/by-hand-scoped', '/api/private-scoped'].map(async url => {
    const response = await app.inject({ url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    return response.statusCode === 200
      ? { status: 200 }
      : { status: response.statusCode, challenge: response.headers['www-authenticate'], body: response.json() as unknown }
  }))
  const cases: Record<string, string | undefined> = {
    'no token': undefined,
    'a token without the scope': keys.sign({ scope: 'write:messages' }),
    'a token with the scope': keys.sign({ scope: 'read:messages' }),
    'an expired token': keys.sign({ scope: 'read:messages', exp: Math.floor(Date.now() / 1000) - 600 }),
    'another audience': keys.sign({ scope: 'read:messages', aud: 'https://another.api/' }),
    'a malformed token': 'not.a.jwt'
  }
  for (const [name, token] of Object.entries(cases)) {
    const [byHand, declared] = await views(token)
    t.same(byHand, declared, `${name}: the same answer as the declared route`)
  }
  t.equal((await views(cases['a token without the scope']))[0]!.status, 403)
})

test('request.jwtVerify() resolves to the read-only claims it leaves in request.user', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/claims', { config: { auth: false } }, async request => {
      const claims = await request.jwtVerify<Record<string, unknown>>()
      return { same: claims === request.user, sub: claims.sub }
    })
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const response = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${keys.sign({ sub: 'me' })}` } })
  t.same(response.json(), { same: true, sub: 'me' })
})
