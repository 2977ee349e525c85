// The ceiling: plain Fastify serving the same three routes with no auth at all. Every ratio in
// the report is a target's throughput divided by this one's, measured in the same round. The
// routes declare a response schema, as the service's do, so that Fastify serializes the same way
// in both and the ratio measures auth alone.
import Fastify, { LogController } from 'fastify'
import { exitOnSignal, MESSAGES, settings } from './common.js'

const { port, host } = settings()
// CEILING_LOGGER=true (the opt-in ceiling-logged target): Fastify's logger on, as our service has
// it (pino to stdout, no line per request), to show what that alone costs against the ceiling.
const logged = { logger: { level: 'info' }, logController: new LogController({ disableRequestLogging: true }) }
const app = Fastify(process.env.CEILING_LOGGER === 'true' ? logged : {})
const schema = { response: { 200: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'], additionalProperties: false } } }

app.get('/api/public', { schema }, async () => MESSAGES.public)
app.get('/api/private', { schema }, async () => MESSAGES.private)
app.get('/api/private-scoped', { schema }, async () => MESSAGES.scoped)

await app.listen({ port, host })
exitOnSignal(() => app.close())
