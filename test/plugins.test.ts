import { test } from 'tap'
import { buildApp, envFor, LogCapture } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'
import { redactUrl } from '../src/logger.js'

test('LOG_REQUESTS=true writes one line per request, token parameters redacted', async t => {
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys, { LOG_REQUESTS: 'true' }), logs)
  t.teardown(async () => { await app.close(); await keys.close() })
  await app.inject('/api/public?x=1&access_token=secret-value')
  const line = logs.lines.find(entry => entry.msg === 'request completed')
  t.match(line, { method: 'GET', url: '/api/public?x=1&access_token=[REDACTED]', statusCode: 200 })
  t.ok(typeof line?.responseTime === 'number' && line.responseTime > 0, 'the response was timed')
  t.notOk(logs.raw.some(raw => raw.includes('secret-value')))

  // Fastify decodes the name, so this is a token in the query (refused) and must not be logged either.
  const encoded = await app.inject('/api/private?access%5Ftoken=secret-encoded')
  t.equal(encoded.statusCode, 400)
  t.ok(logs.lines.some(entry => entry.msg === 'request completed' && entry.url === '/api/private?access%5Ftoken=[REDACTED]'))
  t.notOk(logs.raw.some(raw => raw.includes('secret-encoded')))
})

test('redactUrl replaces the value of every parameter named access_token once decoded, and nothing else', async t => {
  t.equal(redactUrl('/api/private?access%5Ftoken=SECRET'), '/api/private?access%5Ftoken=[REDACTED]')
  t.equal(redactUrl('/p?ACCESS_TOKEN=SECRET'), '/p?ACCESS_TOKEN=[REDACTED]')
  t.equal(redactUrl('/p?%61ccess_token=SECRET'), '/p?%61ccess_token=[REDACTED]')
  t.equal(redactUrl('/p?%41CCESS%5ftoken=a=b'), '/p?%41CCESS%5ftoken=[REDACTED]', 'the whole value, = included')
  t.equal(redactUrl('/p?access_token='), '/p?access_token=[REDACTED]')
  t.equal(redactUrl('/p?a=1&access_token=SECRET&b=2&access_token=AGAIN'), '/p?a=1&access_token=[REDACTED]&b=2&access_token=[REDACTED]')
  t.equal(redactUrl('/p?x=%zz&access%5Ftoken=SECRET&y=%'), '/p?x=%zz&access%5Ftoken=[REDACTED]&y=%', 'a malformed escape elsewhere')
  t.equal(redactUrl('/p?%zzaccess_token=x'), '/p?%zzaccess_token=x', 'a malformed escape in the name keeps it another name')
  t.equal(redactUrl('/p?a=1?access_token=SECRET&b=2'), '/p?a=1?access_token=[REDACTED]&b=2', 'after a second ? too, though Fastify reads it as part of a')
  for (const url of [
    '/p',
    '/p?',
    '/p?access_token',
    '/p?flag&x=1',
    '/p?x=access_token%3Dv&y=a%20b+c&access_token_2=v&my_access_token=v&&',
    '/p?access%255Ftoken=v',
    '/a%5Fb/access_token=v'
  ]) t.equal(redactUrl(url), url, `${url} is left as it is`)
})

test('request lines are off by default', async t => {
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys), logs)
  t.teardown(async () => { await app.close(); await keys.close() })
  await app.inject('/api/public')
  t.notOk(logs.lines.some(entry => entry.msg === 'request completed'))
})

test('the logger redacts credentials wherever they are logged', async t => {
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys), logs)
  t.teardown(async () => { await app.close(); await keys.close() })
  app.log.info({ req: { method: 'GET', url: '/x?access_token=abc', headers: { authorization: 'Bearer abc' } }, body: { client_secret: 's', password: 'p' } }, 'probe')
  const line = logs.raw.find(raw => raw.includes('"probe"')) ?? ''
  t.notMatch(line, /abc|"s"|"p"/)
  t.match(line, /\[REDACTED\]/)
})

test('unexpected errors are a generic 500, logged with the error', async t => {
  const keys = await KeyServer.start()
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys), logs, async fastify => {
    fastify.get('/boom', { config: { auth: false } }, async () => { throw new Error('database password is hunter2') })
    fastify.post('/echo', { config: { auth: false } }, async request => request.body)
    fastify.get('/teapot', { config: { auth: false } }, async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) })
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const response = await app.inject('/boom')
  t.equal(response.statusCode, 500)
  t.same(response.json(), { statusCode: 500, error: 'Internal Server Error', code: 'INTERNAL_ERROR', message: 'An unexpected error occurred' })
  t.notMatch(response.body, /hunter2|at /)
  t.ok(logs.lines.some(entry => entry.msg === 'unexpected error'))

  const badJson = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(badJson.statusCode, 400)
  t.match(badJson.json(), { statusCode: 400, error: 'Bad Request', code: 'FST_ERR_CTP_INVALID_JSON_BODY' })
  const unsupported = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/unknown' }, payload: 'x' })
  t.equal(unsupported.statusCode, 415)
  const teapot = await app.inject('/teapot')
  t.same(teapot.json(), { statusCode: 418, error: 'I\'m a Teapot', code: 'BAD_REQUEST', message: 'short and stout' }, 'a client error without a code still has one')
})

test('route hooks declared by the route run after authentication', async t => {
  const keys = await KeyServer.start()
  const seen: string[] = []
  const app = await buildApp(envFor(keys), undefined, async fastify => {
    fastify.get('/hooked', {
      onRequest: [async request => { seen.push(request.user.sub ?? '') }],
      config: { auth: { scopes: ['a'] } },
      preHandler: [async () => { seen.push('pre') }]
    }, async () => ({ ok: true }))
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  t.equal((await app.inject('/hooked')).statusCode, 401)
  t.same(seen, [], 'the route\'s own hooks never see an anonymous request')
  t.equal((await app.inject({ url: '/hooked', headers: { authorization: `Bearer ${keys.sign({ scope: 'a', sub: 'svc' })}` } })).statusCode, 200)
  t.same(seen, ['svc', 'pre'])
})
