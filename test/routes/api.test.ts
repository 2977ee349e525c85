import fp from 'fastify-plugin'
import { test } from 'tap'
import app from '../../src/app.js'
import { createFastify } from '../../src/fastify-instance.js'
import { serviceLogger } from '../../src/logger.js'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer } from '../helpers/key-server.js'

const PUBLIC = { message: 'Hello from a public endpoint! You don\'t need to be authenticated to see this.' }
const PRIVATE = { message: 'Hello from a private endpoint! You need to be authenticated to see this.' }
const SCOPED = { message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' }
const MISSING_CHALLENGE = 'Bearer realm="api"'
const SCOPE_CHALLENGE = 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not have the required scope (read:messages)", scope="read:messages"'

test('the quickstart endpoints', async t => {
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  // Every rejection its own line (no summary per interval), so each subtest sees its own.
  const app = await buildApp(envFor(keys, { LOG_REJECTION_INTERVAL: '0' }), logs)
  t.teardown(async () => { await app.close(); await keys.close() })

  await t.test('GET /api/public needs nothing', async t => {
    const response = await app.inject('/api/public')
    t.equal(response.statusCode, 200)
    t.same(response.json(), PUBLIC)
  })

  await t.test('GET /api/private without a token is a 401 with bare challenges, Bearer and DPoP', async t => {
    const response = await app.inject('/api/private')
    t.equal(response.statusCode, 401)
    t.equal(response.headers['www-authenticate'], offered(MISSING_CHALLENGE))
    t.same(response.json(), {
      statusCode: 401,
      error: 'Unauthorized',
      code: 'AUTH_MISSING_TOKEN',
      message: 'An access token is required: send it in the Authorization header as Bearer <token>'
    })
  })

  await t.test('GET /api/private with a valid token', async t => {
    const response = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign()}` } })
    t.equal(response.statusCode, 200)
    t.same(response.json(), PRIVATE)
  })

  await t.test('GET /api/private-scoped without the scope is 403 insufficient_scope', async t => {
    const response = await app.inject({ url: '/api/private-scoped', headers: { authorization: `Bearer ${keys.sign({ scope: 'write:messages' })}` } })
    t.equal(response.statusCode, 403)
    t.equal(response.headers['www-authenticate'], offered(SCOPE_CHALLENGE))
    t.same(response.json(), {
      statusCode: 403,
      error: 'Forbidden',
      code: 'AUTH_INSUFFICIENT_SCOPE',
      message: 'The access token does not have the required scope (read:messages)'
    })
  })

  await t.test('GET /api/private-scoped with the scope', async t => {
    const response = await app.inject({ url: '/api/private-scoped', headers: { authorization: `Bearer ${keys.sign({ scope: 'openid read:messages' })}` } })
    t.equal(response.statusCode, 200)
    t.same(response.json(), SCOPED)
  })

  await t.test('HEAD routes are protected like their GET', async t => {
    const response = await app.inject({ method: 'HEAD', url: '/api/private' })
    t.equal(response.statusCode, 401)
    t.equal(response.headers['www-authenticate'], offered(MISSING_CHALLENGE))
  })

  await t.test('with DPOP=off the challenges are the Bearer ones alone', async t => {
    const bearerOnly = await buildApp(envFor(keys, { DPOP: 'off' }))
    t.teardown(async () => { await bearerOnly.close() })
    const missing = await bearerOnly.inject('/api/private')
    t.equal(missing.statusCode, 401)
    t.equal(missing.headers['www-authenticate'], MISSING_CHALLENGE)
    const forbidden = await bearerOnly.inject({ url: '/api/private-scoped', headers: { authorization: `Bearer ${keys.sign({ scope: 'write:messages' })}` } })
    t.equal(forbidden.statusCode, 403)
    t.equal(forbidden.headers['www-authenticate'], SCOPE_CHALLENGE)
  })

  await t.test('every rejection is logged once with its code and request id, never the token', async t => {
    const token = keys.sign({ scope: 'nothing' })
    const before = logs.lines.length
    await app.inject({ url: '/api/private-scoped', headers: { authorization: `Bearer ${token}` } })
    const rejections = logs.lines.slice(before).filter(line => line.msg === 'request rejected')
    t.equal(rejections.length, 1)
    t.equal(rejections[0].code, 'AUTH_INSUFFICIENT_SCOPE')
    t.match(rejections[0].reqId, /\S/)
    t.notOk(logs.raw.some(line => line.includes(token.split('.')[2])), 'no log line holds the token')
  })
})

test('route files follow Fastify\'s convention: the folder is the prefix, each file its own context', async t => {
  const keys = await KeyServer.start()
  const fastify = createFastify(serviceLogger(new LogCapture()))
  t.teardown(async () => { await fastify.close(); await keys.close() })
  // Added before the app, so every context the app makes inherits it.
  const classes = new Map<string, unknown>()
  fastify.addHook('onRequest', (request, _reply, done) => {
    classes.set(request.routeOptions.url ?? '', Object.getPrototypeOf(request))
    done()
  })
  await fastify.register(fp(app), { env: envFor(keys) })
  const token = keys.sign({ scope: 'read:messages' })
  for (const url of ['/api/public', '/api/private', '/api/private-scoped', '/health/live', '/health/ready']) {
    t.equal((await fastify.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode, 200, url)
  }
  t.equal(classes.size, 5)
  t.not(classes.get('/api/public'), classes.get('/api/private'), 'two route files, two contexts')
  t.not(classes.get('/api/private'), classes.get('/api/private-scoped'))
  t.equal(classes.get('/health/live'), classes.get('/health/ready'), 'one file, one context')
})
