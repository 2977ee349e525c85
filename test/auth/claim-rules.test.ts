import { test } from 'tap'
import { claimRequirements } from '../../src/auth/claim-rules.js'
import { describePolicy, routePolicy } from '../../src/auth/route-policy.js'
import { documentedSchema } from '../../src/openapi/document.js'
import { formatRoutes } from '../../src/route-audit.js'
import { buildApp, envFor } from '../helpers/app.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer } from '../helpers/key-server.js'

// Claim rules declared where the route is: equal to a value, including values, or a check of
// one's own. A failed rule is 401 invalid_token AUTH_CLAIM_MISMATCH; scopes keep their 403.

test('a route\'s claim rules: equals, includes, a custom check, with scopes', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/org', { config: { auth: { claims: { org_id: 'org_acme', gty: 'client-credentials' } } } }, async () => ({ ok: true }))
    fastify.get('/roles', { config: { auth: { claims: { roles: { includes: ['admin', 'ops'] }, amr: { includes: 'mfa' } } } } }, async () => ({ ok: true }))
    fastify.get('/tenant', {
      config: { auth: { claims: { tenant: (value: unknown) => typeof value === 'string' && value.startsWith('eu-'), level: () => { throw new Error('x') } } } }
    }, async () => ({ ok: true }))
    fastify.get('/both', { config: { auth: { scopes: ['read:messages'], claims: { org_id: 'org_acme' } } } }, async () => ({ ok: true }))
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const call = async (url: string, claims: Record<string, unknown>) =>
    await app.inject({ url, headers: { authorization: `Bearer ${keys.sign(claims)}` } })
  const refused = (claim: string) => ({
    statusCode: 401,
    body: { statusCode: 401, error: 'Unauthorized', code: 'AUTH_CLAIM_MISMATCH', message: `The access token ${claim} claim does not satisfy what this route requires` },
    challenge: offered(`Bearer realm="api", error="invalid_token", error_description="The access token ${claim} claim does not satisfy what this route requires"`)
  })
  const seen = (response: Awaited<ReturnType<typeof call>>) => response.statusCode === 200
    ? 200
    : { statusCode: response.statusCode, body: response.json(), challenge: response.headers['www-authenticate'] }

  t.equal(seen(await call('/org', { org_id: 'org_acme', gty: 'client-credentials' })), 200)
  t.same(seen(await call('/org', { org_id: 'org_other', gty: 'client-credentials' })), refused('org_id'))
  t.same(seen(await call('/org', { gty: 'client-credentials' })), refused('org_id'), 'a missing claim fails its rule')
  t.same(seen(await call('/org', { org_id: 'org_acme', gty: 'password' })), refused('gty'))

  t.equal(seen(await call('/roles', { roles: ['viewer', 'admin', 'ops'], amr: 'pwd mfa' })), 200, 'an array, and a space-separated string')
  t.equal(seen(await call('/roles', { roles: 'ops admin', amr: ['mfa'] })), 200)
  t.same(seen(await call('/roles', { roles: ['admin'], amr: 'mfa' })), refused('roles'), 'every listed value is needed')
  t.same(seen(await call('/roles', { roles: { admin: true }, amr: 'mfa' })), refused('roles'), 'neither array nor string includes nothing')

  t.same(seen(await call('/tenant', { tenant: 'us-1' })), refused('tenant'))
  t.same(seen(await call('/tenant', { tenant: 'eu-1' })), refused('level'), 'a check that throws refuses')

  t.same(seen(await call('/both', { scope: 'read:messages' })), refused('org_id'), 'a claim rule answers before the scopes')
  const scope = await call('/both', { org_id: 'org_acme' })
  t.equal(scope.statusCode, 403)
  t.equal(scope.json().code, 'AUTH_INSUFFICIENT_SCOPE')
  t.equal(seen(await call('/both', { org_id: 'org_acme', scope: 'read:messages' })), 200)

  const listed = formatRoutes(app.declaredRoutes.filter(route => route.method === 'GET' && ['/org', '/roles', '/tenant', '/both'].includes(route.url)))
  t.match(listed, /\/org +token; claims: org_id = "org_acme", gty = "client-credentials"\n/)
  t.match(listed, /\/roles +token; claims: roles includes admin ops, amr includes mfa\n/)
  t.match(listed, /\/tenant +token; claims: tenant \(custom check\), level \(custom check\)\n/)
  t.match(listed, /\/both +scopes: read:messages \(all\); claims: org_id = "org_acme"\n/)
})

test('claim rules in the OpenAPI description', async t => {
  const schema = documentedSchema(undefined, { method: 'GET', url: '/x', config: { auth: { scopes: ['a'], claims: { org_id: 'o' } } } }, 'allowed')
  t.equal(schema.description, 'Needs a valid access token with scopes a (all) whose claims satisfy: org_id = "o" (else 401 AUTH_CLAIM_MISMATCH).')
  const token = documentedSchema(undefined, { method: 'GET', url: '/x', config: { auth: { claims: { n: 1 } } } }, 'allowed')
  t.equal(token.description, 'Needs a valid access token whose claims satisfy: n = 1 (else 401 AUTH_CLAIM_MISMATCH).')
  t.equal(describePolicy(routePolicy({ claims: { flag: true } }, 'GET /')), 'token; claims: flag = true')
  t.equal(describePolicy(routePolicy({ dpop: 'required' }, 'GET /')), 'token; dpop: required')
  t.throws(() => routePolicy({ dpop: 'yes' }, 'GET /d'), /GET \/d: config.auth.dpop must be "allowed", "required" or "off"/)
})

test('a claim rule the plugin does not understand fails start-up', async t => {
  const invalid: Array<[unknown, RegExp]> = [
    [[], /claims must be an object of claim name to rule/],
    [{}, /claims must name at least one claim/],
    [{ 'has space': 'x' }, /invalid claim name "has space"/],
    [{ permissions: { includes: 'a' } }, /claims.permissions: declare scopes and permissions with scopes/],
    [{ scope: 'a' }, /claims.scope: declare scopes/],
    [{ org: ['a', 'b'] }, /claims.org must be a string, number or boolean \(equals\), \{ includes: value or values \}, or a function/],
    [{ org: { includes: [] } }, /claims.org must be/],
    [{ org: { includes: [1] } }, /claims.org must be/],
    [{ org: { includes: 'a', extra: 1 } }, /claims.org must be/],
    [{ org: null }, /claims.org must be/]
  ]
  for (const [claims, message] of invalid) t.throws(() => claimRequirements(claims), message, JSON.stringify(claims))
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  await t.rejects(buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/bad', { config: { auth: { claims: { org: ['a'] } } } } as never, async () => ({}))
  }), /GET \/bad: config.auth claims.org must be/)
})
