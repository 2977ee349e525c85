// The token client against the real service in local mode: discovery and tokens from the embedded
// issuer, calls to /api/private and /api/private-scoped, as another service would make them.
import t from 'tap'
import { TokenClient } from '../../src/client/token-client.js'
import { DEV_AUDIENCE, DEV_CLIENT_SECRETS, SCOPED_CLIENT, UNSCOPED_CLIENT } from '../../src/dev-credentials.js'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { startLocalService } from '../helpers/local-service.js'

t.test('another service calls the API with tokens from the local issuer', async t => {
  const { issuer, api } = await startLocalService(t)

  const reader = new TokenClient({
    issuer, clientId: SCOPED_CLIENT, clientSecret: DEV_CLIENT_SECRETS.get(SCOPED_CLIENT) ?? '', audience: DEV_AUDIENCE, scope: 'read:messages'
  })
  const response = await reader.fetch(`${api}/private-scoped`)
  t.equal(response.status, 200)
  t.same(await response.json(), { message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' })
  const token = await reader.getToken()
  t.equal(token.scope, 'read:messages')
  t.equal(token.expiresAt - token.refreshAt, 17_280_000, 'a day-long token, refreshed after 80% of it')
  const statuses = await Promise.all(Array.from({ length: 200 }, async () => (await reader.fetch(`${api}/private-scoped`)).status))
  t.same([...new Set(statuses)], [200], '200 concurrent calls')
  t.equal((await reader.getToken()).accessToken, token.accessToken, 'all with the one token')

  // HTTP Basic client authentication, a client without the scope: its 403 comes back as it is.
  const basic = new TokenClient({
    issuer, clientId: UNSCOPED_CLIENT, clientSecret: DEV_CLIENT_SECRETS.get(UNSCOPED_CLIENT) ?? '', authMethod: 'client_secret_basic', audience: DEV_AUDIENCE
  })
  t.equal((await basic.fetch(`${api}/private`)).status, 200)
  const forbidden = await basic.fetch(`${api}/private-scoped`)
  t.equal(forbidden.status, 403)
  t.match(forbidden.headers.get('www-authenticate'), /error="insufficient_scope"/)

  const wrong = new TokenClient({ issuer, clientId: SCOPED_CLIENT, clientSecret: 'not-the-secret', audience: DEV_AUDIENCE })
  await t.rejects(wrong.fetch(`${api}/private-scoped`), {
    name: 'TokenRequestError', status: 401, error: 'invalid_client', message: 'token request failed with HTTP 401: invalid_client'
  })
})

t.test('with a DPoP key: DPoP-bound tokens from the local issuer, a proof per call, the API\'s nonce followed', async t => {
  const { issuer, api } = await startLocalService(t, { DPOP_NONCE: 'true', DPOP_NONCE_SECRET: 'a-nonce-secret-of-at-least-32-bytes!' })
  const reader = new TokenClient({
    issuer, clientId: SCOPED_CLIENT, clientSecret: DEV_CLIENT_SECRETS.get(SCOPED_CLIENT) ?? '', audience: DEV_AUDIENCE, scope: 'read:messages',
    dpop: new DpopProofSigner()
  })
  const response = await reader.fetch(`${api}/private-scoped`)
  t.equal(response.status, 200, 'asked for the nonce, and answered with it')
  t.equal((await reader.getToken()).tokenType, 'DPoP')
  const statuses = await Promise.all(Array.from({ length: 50 }, async () => (await reader.fetch(`${api}/private-scoped`)).status))
  t.same([...new Set(statuses)], [200], '50 concurrent calls, each with its own proof')

  // The token alone, sent as a bearer token, is refused: it is bound to the key.
  const stolen = await fetch(`${api}/private-scoped`, { headers: { authorization: `Bearer ${(await reader.getToken()).accessToken}` } })
  t.equal(stolen.status, 401)
  t.match(await stolen.json(), { code: 'AUTH_DPOP_BOUND_TOKEN_AS_BEARER' })
})
