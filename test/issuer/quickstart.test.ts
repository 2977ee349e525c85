// Replays Auth0's quickstart requests against the shipped config with the documented credentials.
import t from 'tap'
import { AUDIENCE, DOCUMENTED, SHIPPED_CONFIG, clientCredentials, postToken, startTestIssuer, testDirs, verifyAgainstJwks } from './helpers.js'

t.test('the shipped config and the documented credentials', async t => {
  const { keyDir } = await testDirs(t)
  const { issuer } = await startTestIssuer(t, { configPath: SHIPPED_CONFIG, keyDir })
  t.match(issuer, /^http:\/\/localhost:\d+\/$/)

  t.test('discovery document', async t => {
    const response = await fetch(new URL('.well-known/openid-configuration', issuer))
    t.equal(response.status, 200)
    t.same(await response.json(), {
      issuer,
      token_endpoint: `${issuer}oauth/token`,
      jwks_uri: `${issuer}.well-known/jwks.json`,
      grant_types_supported: ['client_credentials', 'password'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: ['read:messages', 'write:messages'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'scope', 'azp', 'gty', 'jti', 'permissions', 'cnf'],
      dpop_signing_alg_values_supported: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      tls_client_certificate_bound_access_tokens: true
    })
  })

  t.test('JWKS publishes the public key only', async t => {
    const { keys } = await (await fetch(new URL('.well-known/jwks.json', issuer))).json() as { keys: Array<Record<string, unknown>> }
    t.equal(keys.length, 1)
    t.same(Object.keys(keys[0] ?? {}).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
    t.match(keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB', kid: /^[\w-]{43}$/ })
  })

  t.test('curl with a JSON body: m2m-reader gets read:messages by default', async t => {
    const { status, headers, body } = await postToken(issuer, clientCredentials('m2m-reader', DOCUMENTED.reader))
    t.equal(status, 200)
    t.equal(headers.get('cache-control'), 'no-store')
    t.equal(headers.get('pragma'), 'no-cache')
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
    t.match(body, { token_type: 'Bearer', expires_in: 86400, scope: 'read:messages' })
    const { header, payload } = await verifyAgainstJwks(issuer, body.access_token as string)
    t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ'])
    t.match(header, { alg: 'RS256', typ: 'JWT' })
    t.match(payload, {
      iss: issuer,
      sub: 'm2m-reader@clients',
      aud: AUDIENCE,
      scope: 'read:messages',
      azp: 'm2m-reader',
      gty: 'client-credentials',
      permissions: ['read:messages'],
      jti: /^[0-9a-f-]{36}$/
    })
    t.equal((payload.exp as number) - (payload.iat as number), 86400)
    t.ok(Math.abs((payload.iat as number) - Date.now() / 1000) < 5, 'iat is now')
  })

  t.test('m2m-basic gets a token without scopes', async t => {
    const { status, body } = await postToken(issuer, clientCredentials('m2m-basic', DOCUMENTED.basic), { form: true })
    t.equal(status, 200)
    t.equal(body.scope, '')
    const { payload } = await verifyAgainstJwks(issuer, body.access_token as string)
    t.match(payload, { sub: 'm2m-basic@clients', scope: '', permissions: [] })
  })

  t.test('password grant for the documented user, with HTTP Basic client authentication', async t => {
    const { status, body } = await postToken(issuer, {
      grant_type: 'password',
      username: DOCUMENTED.user.username,
      password: DOCUMENTED.user.password,
      audience: AUDIENCE,
      scope: 'read:messages'
    }, { form: true, basic: ['local-app', DOCUMENTED.app] })
    t.equal(status, 200)
    const { payload } = await verifyAgainstJwks(issuer, body.access_token as string)
    t.match(payload, { sub: 'auth0|local-user-1', azp: 'local-app', gty: 'password', scope: 'read:messages', permissions: ['read:messages'] })
  })

  t.test('the user may not have write:messages, though local-app may', async t => {
    const { status, body } = await postToken(issuer, {
      grant_type: 'password',
      username: DOCUMENTED.user.username,
      password: DOCUMENTED.user.password,
      audience: AUDIENCE,
      scope: 'read:messages write:messages',
      client_id: 'local-app',
      client_secret: DOCUMENTED.app
    })
    t.equal(status, 400)
    t.same(body, { error: 'invalid_scope', error_description: 'the user is not granted scope "write:messages" on https://quickstarts/api' })
  })

  t.test('reachable at localhost over IPv6 too', async t => {
    const port = new URL(issuer).port
    const response = await fetch(`http://[::1]:${port}/.well-known/openid-configuration`)
    t.equal(response.status, 200)
    t.equal((await response.json() as { issuer: string }).issuer, issuer)
  })
})
