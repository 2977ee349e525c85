// The quickstart's whole flow, offline: `npm start` with no issuer configured runs the API and the
// local authorization server; tokens from its /oauth/token get 200, 401 and 403 as documented.
import { test } from 'tap'
import { offered } from './helpers/challenges.js'
import { startLocalService } from './helpers/local-service.js'
import { DEV_CLIENT_SECRETS, DEV_USER } from '../src/dev-credentials.js'

const AUDIENCE = 'https://quickstarts/api'


test('the quickstart against the embedded local issuer', async t => {
  const { server, apiPort, issuerPort, api } = await startLocalService(t)
  const issuer = `http://localhost:${issuerPort}`
  t.same(server.authSettings.issuers.map(({ issuer }) => issuer), [`${issuer}/`])

  const tokenFrom = async (init: { body: string, type: string, basic?: string }) => {
    const headers: Record<string, string> = { 'content-type': init.type }
    if (init.basic !== undefined) headers.authorization = `Basic ${Buffer.from(init.basic).toString('base64')}`
    const response = await fetch(`${issuer}/oauth/token`, { method: 'POST', headers, body: init.body })
    t.equal(response.status, 200)
    const body = await response.json() as { access_token: string, token_type: string, scope: string }
    t.equal(body.token_type, 'Bearer')
    return body.access_token
  }
  const call = async (path: string, token?: string) => {
    const response = await fetch(`${api}/${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    return { status: response.status, body: await response.json() as Record<string, unknown>, challenge: response.headers.get('www-authenticate') }
  }

  const ready = await fetch(`http://localhost:${apiPort}/health/ready`)
  t.equal(ready.status, 200, 'the API loaded the local issuer\'s keys over HTTP')

  // The quickstart's request, as JSON: a machine-to-machine client granted read:messages.
  const reader = await tokenFrom({
    type: 'application/json',
    body: JSON.stringify({ client_id: 'm2m-reader', client_secret: DEV_CLIENT_SECRETS.get('m2m-reader'), audience: AUDIENCE, grant_type: 'client_credentials' })
  })
  // The same grant as a form with HTTP Basic client authentication, from a client without the scope.
  const basic = await tokenFrom({
    type: 'application/x-www-form-urlencoded',
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }).toString(),
    basic: `m2m-basic:${DEV_CLIENT_SECRETS.get('m2m-basic') ?? ''}`
  })
  // The password grant for the shipped user.
  const user = await tokenFrom({
    type: 'application/x-www-form-urlencoded',
    body: new URLSearchParams({
      grant_type: 'password', username: DEV_USER.username, password: DEV_USER.password, audience: AUDIENCE,
      scope: 'read:messages', client_id: 'local-app', client_secret: DEV_CLIENT_SECRETS.get('local-app') ?? ''
    }).toString()
  })

  t.equal((await call('public')).status, 200)
  const anonymous = await call('private')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.challenge, offered('Bearer realm="api"'))
  t.same(await call('private', reader), { status: 200, challenge: null, body: { message: 'Hello from a private endpoint! You need to be authenticated to see this.' } })
  t.same(await call('private-scoped', reader), {
    status: 200, challenge: null, body: { message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' }
  })
  t.equal((await call('private', basic)).status, 200)
  const forbidden = await call('private-scoped', basic)
  t.equal(forbidden.status, 403)
  t.equal(forbidden.challenge, offered(
    'Bearer realm="api", error="insufficient_scope", error_description="The access token does not have the required scope (read:messages)", scope="read:messages"'))
  t.equal((await call('private-scoped', user)).status, 200)
})
