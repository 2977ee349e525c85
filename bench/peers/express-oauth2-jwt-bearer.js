// Express 5 with Auth0's express-oauth2-jwt-bearer, wired as Auth0's Express API quickstart does:
// auth() with issuer and audience, requiredScopes() on the scoped route. Discovery and key
// fetching are the library's own.
import express from 'express'
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer'
import { exitOnSignal, MESSAGES, REQUIRED_SCOPE, settings } from './common.js'

const { port, host, issuer, audience } = settings()
const checkJwt = auth({ issuerBaseURL: issuer, audience, tokenSigningAlg: 'RS256' })
const app = express()

app.get('/api/public', (_request, response) => { response.json(MESSAGES.public) })
app.get('/api/private', checkJwt, (_request, response) => { response.json(MESSAGES.private) })
app.get('/api/private-scoped', checkJwt, requiredScopes(REQUIRED_SCOPE), (_request, response) => { response.json(MESSAGES.scoped) })

// The library's errors carry the status and the WWW-Authenticate challenge; Express's default
// handler would answer with an HTML page, so answer JSON as the other targets do.
app.use((error, _request, response, _next) => {
  const status = error.status ?? 500
  if (error.headers !== undefined) response.set(error.headers)
  response.status(status).json({ statusCode: status, error: error.name, message: error.message })
})

const server = app.listen(port, host)
await new Promise((resolve, reject) => {
  server.once('listening', resolve)
  server.once('error', reject)
})
exitOnSignal(() => new Promise(resolve => {
  server.closeAllConnections()
  server.close(resolve)
}))
