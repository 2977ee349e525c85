import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { test } from 'tap'
import { InvalidSignature, MissingToken, type AuthRejection } from '../src/auth/errors.js'
import { errorHandler } from '../src/error-handler.js'
import { createFastify } from '../src/fastify-instance.js'
import { serviceLogger } from '../src/logger.js'
import { RejectionLog } from '../src/rejection-log.js'
import { buildApp, envFor, LogCapture } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'

const rejected = (logs: LogCapture) => logs.lines.filter(line => line.msg === 'request rejected')
const suppressed = (logs: LogCapture) => logs.lines.filter(line => line.msg === 'rejections suppressed')
const refedTimers = () => process.getActiveResourcesInfo().filter(resource => resource === 'Timeout').length

/**
 * A Fastify instance whose /reject/:cause answers with that auth rejection through the service's
 * error handler, logging through `rejectionLog` (made with the service logger, at `level`).
 */
async function rejectingApp (intervalSeconds: number, level = 'info'): Promise<{ fastify: FastifyInstance, logs: LogCapture, log: RejectionLog }> {
  const logs = new LogCapture()
  const logger: Logger = serviceLogger(logs)
  logger.level = level
  const fastify = createFastify(logger)
  const log = new RejectionLog(logger, intervalSeconds)
  fastify.decorate('rejectionLog', log)
  // What the auth plugin decorates: the challenge of a Bearer-only API.
  fastify.decorate('setRejectionHeaders', (_request: unknown, reply: FastifyReply, rejection: AuthRejection) => { reply.header('www-authenticate', rejection.challenge) })
  fastify.setErrorHandler(errorHandler)
  const causes: Record<string, new () => AuthRejection> = { missing: MissingToken, signature: InvalidSignature }
  fastify.get<{ Params: { cause: string } }>('/reject/:cause', async request => { throw new causes[request.params.cause]() })
  return { fastify, logs, log }
}

test('the service: the first rejection of each code in full, the rest counted, a summary per code on close; metrics count every one', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  const logs = new LogCapture()
  const app = await buildApp(envFor(keys, { METRICS_ENABLED: 'true' }), logs)
  let closed = false
  t.teardown(async () => { if (!closed) await app.close() })
  const token = keys.sign()

  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await app.inject('/api/private')).statusCode)
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ url: '/api/private', headers: { authorization: 'Bearer not.a.jwt' } })).statusCode)
  for (let i = 0; i < 3; i++) statuses.push((await app.inject(`/api/private?access_token=${token}`)).statusCode)
  t.same(statuses, [...Array(9).fill(401), 400, 400, 400])

  t.match(rejected(logs), [
    { level: 30, reqId: /^req-/, code: 'AUTH_MISSING_TOKEN', statusCode: 401, method: 'GET', url: '/api/private' },
    { level: 30, reqId: /^req-/, code: 'AUTH_TOKEN_MALFORMED', statusCode: 401, method: 'GET', url: '/api/private' },
    { level: 30, reqId: /^req-/, code: 'AUTH_TOKEN_IN_QUERY', statusCode: 400, method: 'GET', url: '/api/private?access_token=[REDACTED]' }
  ], 'one line per code, in full')
  t.equal(rejected(logs).length, 3)
  t.same(suppressed(logs), [], 'no summary before the interval ends')

  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /^auth_rejections_total\{code="AUTH_MISSING_TOKEN"\} 5$/m, 'the metrics count every rejection')
  t.match(metrics, /^auth_rejections_total\{code="AUTH_TOKEN_IN_QUERY"\} 3$/m)

  closed = true
  await app.close()
  t.same(suppressed(logs).map(({ code, statusCode, suppressed, intervalSeconds, level }) => ({ code, statusCode, suppressed, intervalSeconds, level })), [
    { code: 'AUTH_MISSING_TOKEN', statusCode: 401, suppressed: 4, intervalSeconds: 10, level: 30 },
    { code: 'AUTH_TOKEN_MALFORMED', statusCode: 401, suppressed: 3, intervalSeconds: 10, level: 30 },
    { code: 'AUTH_TOKEN_IN_QUERY', statusCode: 400, suppressed: 2, intervalSeconds: 10, level: 30 }
  ], 'on close, what the interval counted (LOG_REJECTION_INTERVAL defaults to 10)')
  t.notOk(suppressed(logs).some(line => 'reqId' in line), 'a summary belongs to no request')
  t.notOk(logs.raw.some(line => line.includes(token.split('.')[2]) || line.includes('not.a.jwt')), 'no line holds a token')
})

test('when the interval ends, one summary per code that had repeats; then each code is logged in full again', async t => {
  const { fastify, logs } = await rejectingApp(0.05)
  t.teardown(() => fastify.close())
  for (let i = 0; i < 3; i++) t.equal((await fastify.inject('/reject/missing')).statusCode, 401)
  t.equal((await fastify.inject('/reject/signature')).statusCode, 401)
  t.match(rejected(logs), [{ code: 'AUTH_MISSING_TOKEN' }, { code: 'AUTH_INVALID_SIGNATURE' }])

  await sleep(150)
  t.match(suppressed(logs), [{ code: 'AUTH_MISSING_TOKEN', statusCode: 401, suppressed: 2, intervalSeconds: 0.05 }],
    'the code logged once and never repeated has no summary')
  t.equal(suppressed(logs).length, 1)

  t.equal((await fastify.inject('/reject/missing')).statusCode, 401)
  t.equal(rejected(logs).length, 3, 'a new interval: the code\'s first rejection in full again')
  await sleep(150)
  t.equal(suppressed(logs).length, 1, 'nothing was suppressed in that interval: no summary')
})

test('the interval\'s timer never holds the process open, runs only while there are counts, and close() stops it', async t => {
  const { fastify, logs, log } = await rejectingApp(30)
  t.teardown(() => fastify.close())
  const timers: number[] = []
  fastify.get('/measure', async request => {
    const before = refedTimers()
    log.rejected(request, new MissingToken())
    log.rejected(request, new MissingToken())
    timers.push(before, refedTimers())
    return {}
  })
  t.equal((await fastify.inject('/measure')).statusCode, 200)
  t.equal(timers[0], timers[1], 'the interval\'s timer is unref\'d')
  log.close()
  t.match(suppressed(logs), [{ code: 'AUTH_MISSING_TOKEN', suppressed: 1, intervalSeconds: 30 }], 'close() reports the counts at once')
  log.close()
  t.equal(suppressed(logs).length, 1, 'and has nothing more to report')
})

test('at debug, or with an interval of 0, every rejection gets its own line', async t => {
  for (const [interval, level] of [[10, 'debug'], [0, 'info']] as const) {
    const { fastify, logs, log } = await rejectingApp(interval, level)
    for (let i = 0; i < 3; i++) t.equal((await fastify.inject('/reject/signature')).statusCode, 401)
    t.equal(rejected(logs).length, 3, `interval ${interval}, level ${level}`)
    t.match(rejected(logs), [{ reqId: 'req-1' }, { reqId: 'req-2' }, { reqId: 'req-3' }], 'each with its request id')
    log.close()
    t.same(suppressed(logs), [], 'nothing to summarise')
    await fastify.close()
  }
})
