// The ceiling with Fastify's logger on, as our service has it: pino to stdout, no line per
// request. Opt-in: against the ceiling it shows what Fastify's per-request logging machinery
// costs (a child logger per request, response listeners to time it), which every service with a
// logger pays and no auth layer can remove; against ours, what is left is the auth check itself.
import Fastify from 'fastify'
import { exitOnSignal, MESSAGES, settings } from './common.js'

const { port, host } = settings()
const app = Fastify({ logger: { level: 'info' }, disableRequestLogging: true })
const schema = { response: { 200: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'], additionalProperties: false } } }

app.get('/api/public', { schema }, async () => MESSAGES.public)
app.get('/api/private', { schema }, async () => MESSAGES.private)
app.get('/api/private-scoped', { schema }, async () => MESSAGES.scoped)

await app.listen({ port, host })
exitOnSignal(() => app.close())
