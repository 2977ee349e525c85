import type { FastifyBaseLogger, FastifyReply } from 'fastify'
import { pino } from 'pino'
import { test } from 'tap'
import { InvalidSignature } from '../src/auth/errors.js'
import type { AuthRejection } from '../src/auth/errors.js'
import { errorHandler } from '../src/error-handler.js'
import { createFastify } from '../src/fastify-instance.js'
import { serviceLogger } from '../src/logger.js'
import { RejectionLog } from '../src/rejection-log.js'
import { requestLoggerFactory } from '../src/request-logger.js'
import { LogCapture } from './helpers/app.js'

/** Counts the children `logger` makes from now on. */
function countChildren (logger: FastifyBaseLogger): { made: number } {
  const count = { made: 0 }
  const child = logger.child
  // A function, not a bound one: pino's children inherit it, and must stay their own `this`.
  logger.child = function (this: FastifyBaseLogger, ...args: Parameters<FastifyBaseLogger['child']>) {
    count.made++
    return child.apply(this, args)
  }
  return count
}

test('a request logger makes its pino child on its first line, and only once', async t => {
  const logs = new LogCapture()
  const parent = pino({ level: 'info' }, logs)
  const children = countChildren(parent)
  const log = requestLoggerFactory(parent)({ reqId: 'req-7' }, {})

  t.equal(log.level, 'info', 'the level is the parent\'s until the request sets its own')
  t.equal(children.made, 0, 'no child before a line')

  log.info({ code: 'X' }, 'first')
  log.warn('second %s', 'line')
  log.error(new Error('boom'))
  t.equal(children.made, 1, 'one child for every line of the request')
  t.match(logs.lines, [
    { reqId: 'req-7', code: 'X', msg: 'first', level: 30 },
    { reqId: 'req-7', msg: 'second line', level: 40 },
    { reqId: 'req-7', err: { message: 'boom' }, level: 50 }
  ], 'the lines are the child\'s: bindings, objects, format arguments and errors as pino makes them')

  log.debug('hidden')
  log.trace('hidden')
  log.silent('ignored')
  t.equal(logs.lines.length, 3, 'lines below the level are not written')

  const nested = log.child({ step: 'two' })
  nested.info('nested')
  t.match(logs.lines[3], { reqId: 'req-7', step: 'two', msg: 'nested' }, 'a child of the request logger keeps the request id')
})

test('a request logger\'s level is its own, as a pino child\'s is', async t => {
  const logs = new LogCapture()
  const parent = pino({ level: 'info' }, logs)
  const quiet = requestLoggerFactory(parent)({ reqId: 'req-1' }, { level: 'warn' })
  t.equal(quiet.level, 'warn', 'a route log level given by Fastify')
  quiet.info('hidden')
  quiet.warn('shown')
  t.match(logs.lines, [{ reqId: 'req-1', msg: 'shown' }])

  const verbose = requestLoggerFactory(parent)({ reqId: 'req-2' }, {})
  verbose.level = 'debug'
  verbose.debug('now shown')
  t.equal(verbose.level, 'debug')
  t.equal(parent.level, 'info', 'the parent keeps its level')
  verbose.fatal('last')
  t.match(logs.lines.slice(1), [{ reqId: 'req-2', msg: 'now shown', level: 20 }, { reqId: 'req-2', msg: 'last', level: 60 }])
})

test('in the service\'s Fastify, a request that logs nothing makes no child; one that logs gets its request id', async t => {
  const logs = new LogCapture()
  const fastify = createFastify(serviceLogger(logs))
  t.teardown(() => fastify.close())
  fastify.get('/quiet', async () => ({ ok: true }))
  fastify.get('/noisy', { logLevel: 'warn' }, async request => {
    request.log.info('below the route level')
    request.log.warn({ detail: 1 }, 'route line')
    return { ok: true }
  })
  await fastify.ready()
  const children = countChildren(fastify.log)

  for (let i = 0; i < 3; i++) t.equal((await fastify.inject({ url: '/quiet' })).statusCode, 200)
  t.equal(children.made, 0, 'three quiet requests, no child logger')

  const noisy = await fastify.inject({ url: '/noisy' })
  t.equal(noisy.statusCode, 200)
  t.equal(children.made, 1)
  const lines = logs.lines.filter(line => line.msg !== undefined && String(line.msg).includes('route'))
  t.match(lines, [{ msg: 'route line', detail: 1, reqId: /^req-/ }], 'the route\'s log level holds, and the line carries the request id')
})

test('in the service\'s Fastify, a rejection is logged through the request\'s pino child, with its request id', async t => {
  const logs = new LogCapture()
  const logger = serviceLogger(logs)
  const fastify = createFastify(logger)
  t.teardown(() => fastify.close())
  fastify.decorate('rejectionLog', new RejectionLog(logger, 0)) // every rejection its own line
  // What the auth plugin decorates: the challenge of a Bearer-only API.
  fastify.decorate('setRejectionHeaders', (_request: unknown, reply: FastifyReply, rejection: AuthRejection) => { reply.header('www-authenticate', rejection.challenge) })
  fastify.setErrorHandler(errorHandler)
  const reject = { onRequest: (_request: unknown, _reply: unknown, done: (error: Error) => void) => { done(new InvalidSignature()) } }
  fastify.get('/private', reject, async () => ({ ok: true }))
  fastify.get('/quiet', { ...reject, logLevel: 'warn' }, async () => ({ ok: true }))
  fastify.get('/verbose', { ...reject, logLevel: 'info' }, async () => ({ ok: true }))
  await fastify.ready()
  const children = countChildren(fastify.log)

  const response = await fastify.inject({ url: '/private' })
  t.equal(response.statusCode, 401)
  t.equal(children.made, 1, 'the request logged, so it has its child')
  t.match(logs.lines, [{ level: 30, reqId: /^req-/, code: 'AUTH_INVALID_SIGNATURE', statusCode: 401, method: 'GET', url: '/private', msg: 'request rejected' }])

  t.equal((await fastify.inject({ url: '/quiet' })).statusCode, 401)
  t.equal(logs.lines.length, 1, 'a route logging at warn gets no rejection line')
  fastify.log.level = 'warn'
  t.equal((await fastify.inject({ url: '/verbose' })).statusCode, 401)
  t.match(logs.lines.slice(1), [{ reqId: /^req-/, code: 'AUTH_INVALID_SIGNATURE', msg: 'request rejected' }],
    'a route logging at info while the service logs at warn gets its line')
  t.equal(logs.lines.length, 2)
})
