import { test } from 'tap'
import { describePolicy, routePolicy } from '../../src/auth/route-policy.js'
import { grantedScopes, satisfies, ScopeClaimError, validateScopeRequirement } from '../../src/auth/scopes.js'
import { buildApp, envFor } from '../helpers/app.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer } from '../helpers/key-server.js'

test('scopes are read from scope, permissions and scp', async t => {
  t.same([...grantedScopes({ scope: 'a  b' })], ['a', 'b'])
  t.same([...grantedScopes({ permissions: ['c'] })], ['c'])
  t.same([...grantedScopes({ scp: 'd e' })], ['d', 'e'])
  t.same([...grantedScopes({ scp: ['f'] })], ['f'])
  t.same([...grantedScopes({ scope: 'a', permissions: ['a', 'b'], scp: ['c'] })], ['a', 'b', 'c'])
  t.same([...grantedScopes({})], [])
  t.throws(() => grantedScopes({ scope: ['a'] }), /scope must be a string/)
  t.throws(() => grantedScopes({ permissions: 'a' }), /permissions must be an array of strings/)
  t.throws(() => grantedScopes({ permissions: [1] }), /permissions must be an array of strings/)
  t.throws(() => grantedScopes({ scp: 7 }), /scp must be a string/)
  t.ok((() => { try { grantedScopes({ scp: 7 }) } catch (error) { return error instanceof ScopeClaimError } })())
})

test('all and any modes', async t => {
  const granted = new Set(['a', 'b'])
  t.ok(satisfies(granted, { scopes: ['a', 'b'], mode: 'all' }))
  t.notOk(satisfies(granted, { scopes: ['a', 'c'], mode: 'all' }))
  t.ok(satisfies(granted, { scopes: ['c', 'b'], mode: 'any' }))
  t.notOk(satisfies(granted, { scopes: ['c', 'd'], mode: 'any' }))
})

test('scope requirements are validated when declared', async t => {
  t.same(validateScopeRequirement(['read:messages']), { scopes: ['read:messages'], mode: 'all' })
  t.throws(() => validateScopeRequirement([]), /non-empty array/)
  t.throws(() => validateScopeRequirement('read'), /non-empty array/)
  t.throws(() => validateScopeRequirement(['two words']), /invalid scope name "two words"/)
  t.throws(() => validateScopeRequirement(['a"b']), /invalid scope name/)
  t.throws(() => validateScopeRequirement([3]), /invalid scope name 3/)
  t.throws(() => validateScopeRequirement(['a'], 'some'), /mode must be "all" or "any"/)
})

test('route declarations', async t => {
  t.same(routePolicy(false, 'GET /'), { kind: 'public' })
  t.same(routePolicy(undefined, 'GET /'), { kind: 'token' })
  t.same(routePolicy(true, 'GET /'), { kind: 'token' })
  t.same(routePolicy({}, 'GET /'), { kind: 'token' })
  t.same(routePolicy({ scopes: ['a'], mode: 'any' }, 'GET /'), { kind: 'scopes', requirement: { scopes: ['a'], mode: 'any' } })
  t.throws(() => routePolicy('public', 'GET /x'), /GET \/x: config.auth must be false, true or \{ scopes, mode, claims, dpop \}/)
  t.throws(() => routePolicy(null, 'GET /x'), /config.auth must be/)
  t.throws(() => routePolicy([], 'GET /x'), /config.auth must be/)
  t.throws(() => routePolicy({ scope: ['a'] }, 'GET /x'), /unknown option "scope"/)
  t.throws(() => routePolicy({ mode: 'any' }, 'GET /x'), /mode needs scopes/)
  t.throws(() => routePolicy({ scopes: [] }, 'GET /x'), /GET \/x: config.auth scopes must be a non-empty array/)
  t.equal(describePolicy({ kind: 'public' }), 'public')
  t.equal(describePolicy({ kind: 'scopes', requirement: { scopes: ['a', 'b'], mode: 'any' } }), 'scopes: a b (any)')
})

test('routes get the policy they declare; undeclared routes need a token', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/undeclared', async () => ({ ok: true }))
    fastify.get('/any', { config: { auth: { scopes: ['a', 'b'], mode: 'any' } } }, async () => ({ ok: true }))
    fastify.get('/all', { config: { auth: { scopes: ['a', 'b'] } } }, async () => ({ ok: true }))
    fastify.get('/by-hand', { config: { auth: false }, onRequest: fastify.authenticate, preHandler: fastify.requireScopes(['a']) }, async request => ({ sub: request.user.sub }))
    fastify.get('/scope-check-only', { config: { auth: false }, preHandler: fastify.requireScopes(['a'], { mode: 'any' }) }, async () => ({ ok: true }))
    fastify.get('/jwt-verify', { config: { auth: false } }, async request => {
      const claims = await request.jwtVerify<{ sub: string }>()
      return { sub: claims.sub }
    })
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const call = async (url: string, claims?: Record<string, unknown>) =>
    await app.inject({ url, headers: claims === undefined ? {} : { authorization: `Bearer ${keys.sign(claims)}` } })

  t.equal((await call('/undeclared')).statusCode, 401, 'secure by default')
  t.equal((await call('/undeclared', {})).statusCode, 200)

  t.equal((await call('/any', { scope: 'b' })).statusCode, 200)
  t.equal((await call('/any', { permissions: ['a'] })).statusCode, 200)
  const refused = await call('/any', { scp: ['c'] })
  t.equal(refused.statusCode, 403)
  t.equal(refused.headers['www-authenticate'],
    offered('Bearer realm="api", error="insufficient_scope", error_description="The access token does not have the required scope (any of: a b)", scope="a b"'))

  t.equal((await call('/all', { scope: 'a', scp: 'b' })).statusCode, 200)
  t.equal((await call('/all', { scope: 'a' })).statusCode, 403)

  const byHand = await call('/by-hand', { scope: 'a', sub: 'svc@clients' })
  t.same(byHand.json(), { sub: 'svc@clients' })
  t.equal((await call('/by-hand', { scope: 'x' })).statusCode, 403)
  t.equal((await call('/scope-check-only', { scope: 'a' })).statusCode, 401, 'a scope check without a verified token refuses')

  t.same((await call('/jwt-verify', { sub: 'by-jwt-verify' })).json(), { sub: 'by-jwt-verify' })
  const wrongAlg = await app.inject({ url: '/jwt-verify', headers: { authorization: `Bearer ${keys.sign({}, { header: { alg: 'PS256' } })}` } })
  t.equal(wrongAlg.statusCode, 401, 'request.jwtVerify applies the key\'s algorithms too')
  const noKid = await app.inject({ url: '/jwt-verify', headers: { authorization: `Bearer ${keys.signRaw(keys.claims(), { header: { kid: 7 } })}` } })
  t.equal(noKid.json().code, 'AUTH_TOKEN_HEADER_UNSUPPORTED', 'request.jwtVerify refuses a kid that is not a string')

  // request.jwtVerify() reads and refuses exactly as the hook does: same status, code, challenge
  // and body, never @fastify/jwt's own errors or text.
  const validToken = keys.sign()
  const [header, , signature] = validToken.split('.')
  const authorizations = [
    undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer abc', `Bearer  ${validToken}`, `Bearer ${validToken} extra`,
    `bearer ${validToken}`, `Bearer ${header}.bm90IGpzb24.${signature}`,
    // Refused only once the key set has been asked again: the verdict reaches @fastify/jwt's secret callback.
    `Bearer ${keys.signRaw(keys.claims(), { header: { kid: 'not-published' } })}`,
    // Undecodable, with a kid whose key would have to be fetched: malformed either way.
    `Bearer ${keys.signRaw(keys.claims(), { header: { kid: 'not-published' } }).split('.')[0]}.bm90IGpzb24.${signature}`
  ]
  for (const authorization of authorizations) {
    const headers = authorization === undefined ? {} : { authorization }
    const [byHook, byHand] = await Promise.all([
      app.inject({ url: '/api/private', headers }), app.inject({ url: '/jwt-verify', headers })
    ])
    const view = (response: typeof byHook) => response.statusCode === 200
      ? { status: 200 }
      : { status: response.statusCode, challenge: response.headers['www-authenticate'], body: response.json() }
    t.same(view(byHand), view(byHook), `request.jwtVerify answers ${JSON.stringify(authorization)?.slice(0, 40)} as the hook does`)
  }
  t.same(app.declaredRoutes.filter(route => route.method === 'GET' && route.url.startsWith('/a')).map(route => [route.url, describePolicy(route.policy)]), [
    ['/api/private-scoped', 'scopes: read:messages (all)'],
    ['/api/private', 'token'],
    ['/api/public', 'public'],
    ['/any', 'scopes: a b (any)'],
    ['/all', 'scopes: a b (all)']
  ])
})

test('a route with an invalid declaration fails start-up', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  await t.rejects(buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/bad', { config: { auth: { scopes: ['has space'] } } }, async () => ({}))
  }), /GET \/bad: config.auth invalid scope name "has space"/)
})
