// Express 5 with Auth0's express-oauth2-jwt-bearer, wired as Auth0's Express API quickstart does:
// auth() with issuer and audience, requiredScopes() on the scoped route. Discovery and key
// fetching are the library's own.
//
// DPoP (S7): the library (1.10.0) checks DPoP proofs by default (`dpop.enabled` true,
// `required` false: Bearer and DPoP both accepted); spelled out here, with its defaults, so the
// configuration S7 measures is visible. It compares a proof's `htu` with
// `${req.protocol}://${Host header}${req.originalUrl}` (X-Forwarded-Host instead when Express's
// `trust proxy` trusts the peer): the origin is whatever the request says, not a configured one.
// It checks that `jti` is present but remembers none: no replay store.
import express from 'express'
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer'
import { exitOnSignal, MESSAGES, REQUIRED_SCOPE, settings } from './common.js'

const { port, host, issuer, audience } = settings()
const checkJwt = auth({ issuerBaseURL: issuer, audience, tokenSigningAlg: 'RS256', dpop: { enabled: true, required: false } })
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
