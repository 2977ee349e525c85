import { test } from 'tap'
import { createFastify } from '../src/fastify-instance.js'
import { serviceLogger } from '../src/logger.js'
import { LogCapture } from './helpers/app.js'

test('fastify.log is the service logger, for Fastify\'s own lines too', async t => {
  const logs = new LogCapture()
  const logger = serviceLogger(logs)
  const fastify = createFastify(logger)
  t.teardown(() => fastify.close())
  t.equal(fastify.log, logger)
  await fastify.register(async scope => {
    t.equal(scope.log, logger, 'a plugin sees it as well')
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.match(logs.lines, [{ msg: /^Server listening at http:\/\/127\.0\.0\.1:\d+$/, level: 30 }])
})

test('Fastify\'s request lines are ours, with the request id', async t => {
  const logs = new LogCapture()
  const fastify = createFastify(serviceLogger(logs))
  t.teardown(() => fastify.close())
  // Sent, then returned: Fastify warns through the request's logger.
  fastify.get('/twice', async (_request, reply) => {
    await reply.send({ first: true })
    return { second: true }
  })
  const response = await fastify.inject('/twice')
  t.same(response.json(), { first: true })
  t.match(logs.lines, [{ level: 40, reqId: /^req-/, msg: /Reply was already sent/ }])
})

test('a response is timed only where a route reads the time', async t => {
  const fastify = createFastify(serviceLogger(new LogCapture()))
  t.teardown(() => fastify.close())
  fastify.get('/untimed', async (_request, reply) => ({ elapsed: reply.elapsedTime }))
  fastify.get('/timed', { onResponse: (_request, _reply, done) => { done() } }, async (_request, reply) => {
    await new Promise(resolve => setTimeout(resolve, 5))
    return { elapsed: reply.elapsedTime }
  })
  t.same((await fastify.inject('/untimed')).json(), { elapsed: 0 }, 'no onResponse hook: no timing, no listeners on the response')
  t.ok((await fastify.inject('/timed')).json<{ elapsed: number }>().elapsed >= 4, 'with one, Fastify times the response')
})

test('a reply logged as res is its status code only', async t => {
  const logs = new LogCapture()
  serviceLogger(logs).error({ res: { statusCode: 503, raw: { socket: 'not for a log' } } }, 'failed')
  t.same(logs.lines[0].res, { statusCode: 503 })
})

test('a route log level the logger does not know stops start-up, as with Fastify\'s own logger', async t => {
  const fastify = createFastify(serviceLogger(new LogCapture()))
  t.teardown(() => fastify.close())
  void fastify.register(async scope => {
    scope.get('/fine', { logLevel: 'warn' }, async () => ({ ok: true }))
    scope.get('/misspelt', { logLevel: 'verbose' as 'warn' }, async () => ({ ok: true }))
  })
  await t.rejects(async () => { await fastify.ready() }, { code: 'FST_ERR_ROUTE_LOG_LEVEL_INVALID', message: /GET:\/misspelt.*'verbose'/ })
})
