import { test, type Test } from 'tap'
import { errorBodySchema, rejectionResponses } from '../src/openapi/error-responses.js'
import { documentedSchema, requiredScopes } from '../src/openapi/document.js'
import { securityRequirements, tokenEndpoint } from '../src/openapi/security.js'
import { buildApp, envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'

interface Operation {
  security: Array<Record<string, string[]>>
  responses: Record<string, { description: string, headers?: Record<string, unknown>, content?: { 'application/json': { schema: Record<string, unknown> } } }>
  description: string
  'x-auth-policy': string
}
interface Document {
  openapi: string
  info: { title: string, version: string }
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, Record<string, unknown>> }
}

async function documentFor (t: Test, extra: Record<string, string> = {}) {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, extra))
  t.teardown(async () => { await app.close(); await keys.close() })
  const response = await app.inject('/docs/json')
  t.equal(response.statusCode, 200, '/docs/json needs no token')
  return { keys, app, document: response.json<Document>() }
}

test('/docs/json: OpenAPI 3.1 with a bearer scheme and the issuer\'s client credentials flow', async t => {
  const { keys, document } = await documentFor(t)
  t.equal(document.openapi, '3.1.0')
  t.equal(document.info.title, 'oauth-protected-api')
  t.match(document.info.version, /^\d+\.\d+\.\d+/)
  t.same(document.components.securitySchemes.bearerAuth, {
    type: 'http', scheme: 'bearer', bearerFormat: 'JWT',
    description: `An access token issued by ${keys.issuer} for this API, sent as \`Authorization: Bearer <token>\``
  })
  t.match(document.components.securitySchemes.dpopAuth, { type: 'http', scheme: 'DPoP', bearerFormat: 'JWT', description: /signed with ES256, ES384, .*EdDSA\. A DPoP-bound token sent as Bearer is refused\.$/ })
  t.same(document.components.securitySchemes.oauth2.flows, {
    clientCredentials: { tokenUrl: `${keys.issuer}oauth/token`, scopes: { 'read:messages': 'required by GET /api/private-scoped' } }
  })
})

test('each operation carries the policy the auth plugin enforces on it', async t => {
  const { document } = await documentFor(t)
  t.same(Object.keys(document.paths).sort(), ['/api/private', '/api/private-scoped', '/api/public', '/health/live', '/health/ready'],
    'the docs and /metrics are not in the document')
  const get = (path: string) => document.paths[path].get
  t.same(Object.keys(document.paths['/api/private']), ['get'], 'HEAD routes are left out')

  t.same(get('/api/public').security, [], 'public: no security requirement at all')
  t.same(Object.keys(get('/api/public').responses), ['200'])
  t.equal(get('/api/public')['x-auth-policy'], 'public')
  t.same(get('/health/live').security, [])

  t.same(get('/api/private').security, [{ bearerAuth: [] }, { oauth2: [] }, { dpopAuth: [] }], 'DPOP=allowed: bearer or DPoP-bound tokens')
  t.same(Object.keys(get('/api/private').responses), ['200', '400', '401', '503'], 'no 403: no scope is required')
  t.equal(get('/api/private').description, 'Needs a valid access token.')

  const scoped = get('/api/private-scoped')
  t.same(scoped.security, [{ bearerAuth: ['read:messages'] }, { oauth2: ['read:messages'] }, { dpopAuth: ['read:messages'] }])
  t.same(Object.keys(scoped.responses), ['200', '400', '401', '403', '503'])
  t.equal(scoped.description, 'Needs a valid access token with scopes read:messages (all).')
  t.equal(scoped['x-auth-policy'], 'scopes: read:messages (all)')
})

test('rejection responses describe the error body, its codes and the challenge', async t => {
  const { document } = await documentFor(t)
  const responses = document.paths['/api/private-scoped'].get.responses
  const forbidden = responses['403']
  t.equal(forbidden.description, 'The access token lacks a scope this route requires')
  t.match(forbidden.headers, { 'WWW-Authenticate': { schema: { type: 'string' } } })
  t.match(forbidden.content?.['application/json'].schema, {
    type: 'object',
    required: ['statusCode', 'error', 'code', 'message'],
    properties: { statusCode: { enum: [403] }, code: { enum: ['AUTH_INSUFFICIENT_SCOPE'] }, error: { type: 'string' }, message: { type: 'string' } }
  })
  const unauthorized = responses['401'].content?.['application/json'].schema as { properties: { code: { enum: string[] } } }
  t.ok(unauthorized.properties.code.enum.includes('AUTH_MISSING_TOKEN'))
  t.ok(unauthorized.properties.code.enum.includes('AUTH_TOKEN_EXPIRED'))
  t.match(responses['503'].headers, { 'Retry-After': { schema: { type: 'integer' } } })
  t.same((responses['400'].content?.['application/json'].schema as { properties: { code: { enum: string[] } } }).properties.code.enum,
    ['AUTH_CLIENT_CERTIFICATE_MALFORMED', 'AUTH_DPOP_PROOF_DUPLICATE', 'AUTH_DUPLICATE_TOKEN', 'AUTH_MALFORMED_AUTHORIZATION', 'AUTH_TOKEN_IN_QUERY'], 'every code, sorted')
  t.match(responses['401'].headers, { 'DPoP-Nonce': { schema: { type: 'string' } } }, 'a use_dpop_nonce answer carries the nonce')
})

test('the documented error body is the body rejections have', async t => {
  const { app, keys } = await documentFor(t)
  const response = await app.inject({ url: '/api/private-scoped', headers: { authorization: `Bearer ${keys.sign()}` } })
  t.equal(response.statusCode, 403)
  t.same(Object.keys(response.json()).sort(), [...errorBodySchema.required].sort())
  t.same(Object.keys(errorBodySchema.properties).sort(), [...errorBodySchema.required].sort())
})

test('Swagger UI at /docs is public', async t => {
  const { app } = await documentFor(t)
  const page = await app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.equal((await app.inject('/docs/static/swagger-ui.css')).statusCode, 200)
  t.equal((await app.inject('/docs/static/swagger-initializer.js')).statusCode, 200)
  t.equal((await app.inject('/docs/yaml')).statusCode, 200)
})

test('the docs context opens only its own routes', async t => {
  const { app } = await documentFor(t)
  t.equal((await app.inject('/api/private')).statusCode, 401, 'routes outside /docs keep their policy')
})

test('with metrics on, /metrics stays out of the document', async t => {
  const { document } = await documentFor(t, { METRICS_ENABLED: 'true' })
  t.notOk('/metrics' in document.paths)
})

test('any-of scopes are alternatives; a route\'s own description is kept', async t => {
  const any = { kind: 'scopes', requirement: { scopes: ['a', 'b'], mode: 'any' } } as const
  t.same(securityRequirements(any, 'off'), [{ bearerAuth: ['a'] }, { bearerAuth: ['b'] }, { oauth2: ['a'] }, { oauth2: ['b'] }])
  t.same(securityRequirements(any, 'required'), [{ dpopAuth: ['a'] }, { dpopAuth: ['b'] }], 'DPOP=required: DPoP-bound tokens only')
  t.same(securityRequirements({ ...any, dpop: 'off' }, 'required'), [{ bearerAuth: ['a'] }, { bearerAuth: ['b'] }, { oauth2: ['a'] }, { oauth2: ['b'] }], 'a route\'s own mode wins')
  const schema = documentedSchema({ description: 'Reads messages.' }, { method: ['GET', 'POST'], url: '/m', config: { auth: { scopes: ['a', 'b'], mode: 'any' } } }, 'allowed')
  t.equal(schema.description, 'Reads messages.\n\nNeeds a valid access token with scopes a b (any).')
  t.throws(() => documentedSchema(undefined, { method: 'GET', url: '/bad', config: { auth: 'yes' as unknown as boolean } }, 'allowed'),
    /GET \/bad: config.auth must be false, true or \{ scopes, mode, claims, dpop \}/, 'the same parser as the auth plugin, with the same refusals')
})

test('the scope list names every operation that needs a scope', async t => {
  t.same(requiredScopes({
    '/a': { get: { security: [{ oauth2: ['read'] }] }, post: { security: [{ bearerAuth: ['write'] }, { oauth2: ['write', 'read'] }] } },
    '/b': { get: {} }
  }), { read: 'required by GET /a, POST /a', write: 'required by POST /a' })
})

test('token endpoint below the issuer, with or without its trailing slash', async t => {
  t.equal(tokenEndpoint('https://tenant.auth0.com/'), 'https://tenant.auth0.com/oauth/token')
  t.equal(tokenEndpoint('https://idp.example/realms/x'), 'https://idp.example/realms/x/oauth/token')
  t.same(rejectionResponses({ kind: 'public' }), {})
})
