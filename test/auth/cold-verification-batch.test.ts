import { test } from 'tap'
import { buildApp, envFor } from '../helpers/app.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'

// Cold verifications wait for the end of the event-loop turn and run together: every request in
// such a batch must get its own verdict and its own claims, never a neighbour's.

test('requests that arrive together each get their own verdict and claims', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/whoami', async request => ({ sub: request.user.sub }))
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const stranger = makeKey()
  const now = Math.floor(Date.now() / 1000)
  const cases = Array.from({ length: 60 }, (_, i) => {
    const sub = `client-${i}@clients`
    switch (i % 4) {
      case 0: return { token: keys.sign({ sub }), status: 200, body: { sub } }
      case 1: return { token: keys.sign({ sub }, { key: { ...stranger, kid: keys.keys[0]!.kid } }), status: 401, body: { code: 'AUTH_INVALID_SIGNATURE' } }
      case 2: return { token: keys.sign({ sub, exp: now - 600 }), status: 401, body: { code: 'AUTH_TOKEN_EXPIRED' } }
      default: return { token: keys.sign({ sub, aud: 'https://another.api/' }), status: 401, body: { code: 'AUTH_WRONG_AUDIENCE' } }
    }
  })
  // Valid tokens are cached on their second verification, so rounds 1 and 2 verify them (in
  // batches) and round 3 answers them from the cache; refusals are remembered from round 1.
  for (let round = 0; round < 3; round++) {
    const responses = await Promise.all(cases.map(async ({ token }) => {
      const response = await fetch(`${base}/whoami`, { headers: { authorization: `Bearer ${token}` } })
      return { status: response.status, body: await response.json() as Record<string, unknown> }
    }))
    responses.forEach((response, i) => {
      t.equal(response.status, cases[i]!.status, `round ${round}, request ${i}: status`)
      t.match(response.body, cases[i]!.body, `round ${round}, request ${i}: body`)
    })
  }
  t.same(app.tokenCacheStats(), { hits: 15, misses: 165 }, 'round 3 found the 15 valid tokens in the cache')
})
