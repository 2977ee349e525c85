import { tracingChannel } from 'node:diagnostics_channel'
import { multistream, pino, stdTimeFunctions, type Bindings, type Logger, type LoggerOptions } from 'pino'
import { test } from 'tap'
import { FixedLineWriter, FixedLogLine } from '../src/fixed-log-line.js'
import { loggerOptions, serviceLogger } from '../src/logger.js'
import { sameTime } from './helpers/app.js'

/** A destination that keeps each write as it came: pino writes one whole line per write. */
class RawSink {
  readonly writes: string[] = []
  write (line: string): void { this.writes.push(line) }
}

const REJECTED = new FixedLogLine({ code: 'AUTH_INVALID_SIGNATURE', statusCode: 401 }, 'request rejected')

/** What the writer writes, and what pino's child writes for the same line, from loggers made alike. */
function bothWays (options: LoggerOptions, bindings: Bindings, line = REJECTED): { fixed: string[], pino: string[], written: boolean } {
  const fixedSink = new RawSink()
  const written = new FixedLineWriter(pino(options, fixedSink)).tryWrite(line, bindings)
  const pinoSink = new RawSink()
  pino(options, pinoSink).child(bindings).info(line.fields, line.message)
  return { fixed: fixedSink.writes.map(sameTime), pino: pinoSink.writes.map(sameTime), written }
}

test('a fixed line is, byte for byte, the line pino\'s child writes for it', async t => {
  const cases: Array<[string, LoggerOptions, Bindings]> = [
    ['the service\'s own settings', loggerOptions(), { reqId: 'req-1a' }],
    ['a request id that needs escaping', loggerOptions(), { reqId: 'a "quoted"\\ id\n\u2028 é 🔑' }],
    ['another request id label, and two bindings', loggerOptions(), { requestId: 'r-9', tenant: 'acme' }],
    ['no bindings', loggerOptions(), {}],
    ['no pid or hostname', { ...loggerOptions(), base: null }, { reqId: 'req-2' }],
    ['base bindings of its own', { ...loggerOptions(), base: { service: 'api', region: 'eu"1' } }, { reqId: 'req-3' }],
    ['ISO time', { ...loggerOptions(), timestamp: stdTimeFunctions.isoTime }, { reqId: 'req-4' }],
    ['no time', { ...loggerOptions(), timestamp: false }, { reqId: 'req-5' }],
    ['level labels', { ...loggerOptions(), formatters: { level: label => ({ level: label }) } }, { reqId: 'req-6' }],
    ['CRLF line ends', { ...loggerOptions(), crlf: true }, { reqId: 'req-7' }],
    ['another message key', { ...loggerOptions(), messageKey: 'message' }, { reqId: 'req-8' }],
    ['custom levels', { ...loggerOptions(), customLevels: { audit: 35 } }, { reqId: 'req-9' }],
    ['levels compared the other way', { ...loggerOptions(), levelComparison: 'DESC' }, { reqId: 'req-10' }],
    ['an inherited binding, which pino leaves out', loggerOptions(), Object.assign(Object.create({ inherited: 'x' }) as Bindings, { reqId: 'req-11' })]
  ]
  for (const [name, options, bindings] of cases) {
    const { fixed, pino: expected, written } = bothWays(options, bindings)
    t.ok(written, `${name}: the writer writes it`)
    t.equal(expected.length, 1, `${name}: pino writes one line`)
    t.same(fixed, expected, name)
  }

  const sink = new RawSink()
  const logger = pino(loggerOptions(), sink)
  const writer = new FixedLineWriter(logger)
  logger.setBindings({ region: 'eu-1' })
  writer.tryWrite(REJECTED, { reqId: 'req-b' })
  logger.child({ reqId: 'req-b' }).info(REJECTED.fields, REJECTED.message)
  t.match(sink.writes[0], /"region":"eu-1"/)
  t.equal(sameTime(sink.writes[0]), sameTime(sink.writes[1]), 'bindings set on the logger after the writer was made are on the line')

  const odd = new FixedLogLine({ note: 'tab\there "and" \\ é', count: -1.5, zero: 0 }, 'message with "quotes"\n')
  const { fixed, pino: expected } = bothWays(loggerOptions(), { reqId: 'req-x' }, odd)
  t.same(fixed, expected, 'fields and a message with control characters (pino escapes them with JSON.stringify)')
  const quoted = new FixedLogLine({ note: 'say "hi" \\ back é 🔑' }, 'a "quoted" \\ message')
  const both = bothWays(loggerOptions(), { reqId: 'req-y' }, quoted)
  t.same(both.fixed, both.pino, 'quotes and backslashes only (pino escapes those itself)')
})

test('below info, the writer writes nothing, as pino would not', async t => {
  for (const level of ['warn', 'error', 'silent']) {
    const { fixed, pino: expected, written } = bothWays({ ...loggerOptions(), level }, { reqId: 'req-1' })
    t.ok(written, `${level}: the line is handled (by writing nothing)`)
    t.same(fixed, [], level)
    t.same(expected, [], level)
  }
  const sink = new RawSink()
  const logger = pino({ ...loggerOptions(), level: 'warn' }, sink)
  const writer = new FixedLineWriter(logger)
  logger.level = 'info'
  writer.tryWrite(REJECTED, { reqId: 'req-2' })
  t.equal(sink.writes.length, 1, 'the logger\'s level is read per line: lowered later, the line is written')
})

test('when pino would do more with the line than the writer can, the writer leaves it to pino', async t => {
  const refused: Array<[string, LoggerOptions, Bindings]> = [
    ['a mixin', { mixin: () => ({ extra: 1 }) }, { reqId: 'r' }],
    ['a logMethod hook', { hooks: { logMethod (args, method) { method.apply(this, args) } } }, { reqId: 'r' }],
    ['a streamWrite hook', { hooks: { streamWrite: line => line } }, { reqId: 'r' }],
    ['a log formatter', { formatters: { log: object => ({ ...object, wrapped: true }) } }, { reqId: 'r' }],
    ['a message prefix', { msgPrefix: '[api] ' }, { reqId: 'r' }],
    ['a nested key', { nestedKey: 'payload' }, { reqId: 'r' }],
    ['redaction by wildcard', { redact: ['*.secret'] }, { reqId: 'r' }],
    ['redaction of a field', { redact: ['code'] }, { reqId: 'r' }],
    ['redaction of a binding', { redact: ['reqId'] }, { reqId: 'r' }],
    ['a serializer of a field', { serializers: { statusCode: (code: number) => `HTTP ${code}` } }, { reqId: 'r' }],
    ['a serializer of a binding', { serializers: { reqId: (id: string) => id.toUpperCase() } }, { reqId: 'r' }],
    ['a serializer of the message', { serializers: { msg: (msg: string) => msg.toUpperCase() } }, { reqId: 'r' }],
    ['a binding that is not a string', {}, { reqId: 7 }],
    ['a binding pino leaves out', {}, { reqId: 'r', level: 'debug' }],
    ['a binding name that needs escaping', {}, { 'req"Id': 'r' }]
  ]
  for (const [name, options, bindings] of refused) {
    const sink = new RawSink()
    const written = new FixedLineWriter(pino(options, sink)).tryWrite(REJECTED, bindings)
    t.equal(written, false, name)
    t.same(sink.writes, [], `${name}: nothing written`)
  }

  const sink = new RawSink()
  const metadata = multistream([{ stream: sink }])
  t.equal(new FixedLineWriter(pino({}, metadata)).tryWrite(REJECTED, { reqId: 'r' }), false, 'a destination that wants each line\'s metadata (multistream)')
  t.same(sink.writes, [])

  const errorField = new FixedLogLine({ problem: 'x' }, 'm')
  t.equal(new FixedLineWriter(pino({ errorKey: 'problem' }, new RawSink())).tryWrite(errorField, { reqId: 'r' }), false,
    'a field named as the error key (pino runs the err serializer on it)')
  const loudOnly = pino({ customLevels: { loud: 50 }, useOnlyCustomLevels: true, level: 'loud' }, new RawSink()) as unknown as Logger
  t.equal(new FixedLineWriter(loudOnly).tryWrite(REJECTED, { reqId: 'r' }), false, 'a logger with no info level')

  const tracing = tracingChannel('pino_asJson')
  const handlers = { start () {}, end () {}, asyncStart () {}, asyncEnd () {}, error () {} }
  tracing.subscribe(handlers)
  const traced = new RawSink()
  const tracedLogger = serviceLogger(traced)
  t.equal(new FixedLineWriter(tracedLogger).tryWrite(REJECTED, { reqId: 'r' }), false, 'while something traces pino\'s lines')
  tracing.unsubscribe(handlers)
  t.equal(new FixedLineWriter(tracedLogger).tryWrite(REJECTED, { reqId: 'r' }), true, 'and again once nothing does')
  t.equal(traced.writes.length, 1)
})

test('a fixed line\'s text must be well-formed Unicode, which pino and JSON.stringify escape alike', async t => {
  t.throws(() => new FixedLogLine({ code: 'lone \ud800' }, 'm'), TypeError)
  t.throws(() => new FixedLogLine({ code: 'X' }, 'lone \udfff'), TypeError)
})

test('a fixed line keeps its fields and message for pino, frozen', async t => {
  const fields = { code: 'X', statusCode: 400 }
  const line = new FixedLogLine(fields, 'm')
  fields.code = 'changed'
  t.same(line.fields, { code: 'X', statusCode: 400 }, 'a copy, taken when the line is made')
  t.ok(Object.isFrozen(line.fields))
})
