// Every way a token request can fail: status, challenge, caching and the whole RFC 6749 body.
import t, { type Test } from 'tap'
import { AUDIENCE, OTHER_AUDIENCE, SECRETS, clientCredentials, passwordGrant, postToken, startTestIssuer, type TokenCall } from './helpers.js'

const CHALLENGE = 'Basic realm="local-issuer"'

function expectError (t: Test, call: TokenCall, status: number, error: string, description: string): void {
  t.equal(call.status, status, `${error}: status`)
  t.same(call.body, { error, error_description: description }, `${error}: body`)
  t.equal(call.headers.get('cache-control'), 'no-store', `${error}: not cached`)
  t.equal(call.headers.get('www-authenticate'), status === 401 ? CHALLENGE : null, `${error}: challenge only with 401`)
}

/** A raw POST, for bodies postToken would not send. */
async function rawPost (issuer: string, body: string | undefined, contentType?: string): Promise<TokenCall> {
  const response = await fetch(new URL('oauth/token', issuer), {
    method: 'POST',
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    body
  })
  return { status: response.status, headers: response.headers, body: await response.json() as Record<string, unknown> }
}

const basicHeader = (decoded: string): string => `Basic ${Buffer.from(decoded).toString('base64')}`

t.test('token endpoint errors', async t => {
  const { issuer } = await startTestIssuer(t)
  const reader = (extra: Record<string, string> = {}): Record<string, string> => clientCredentials('m2m-reader', SECRETS.reader, extra)
  const { client_id: _id, client_secret: _secret, ...readerWithoutCredentials } = reader()

  t.test('invalid_request: missing or empty parameters', async t => {
    const { grant_type: _omitted, ...withoutGrantType } = reader()
    expectError(t, await postToken(issuer, withoutGrantType), 400, 'invalid_request', 'grant_type is required')
    expectError(t, await postToken(issuer, reader({ grant_type: '' }), { form: true }), 400, 'invalid_request', 'grant_type is required')
    expectError(t, await postToken(issuer, reader({ audience: '' })), 400, 'invalid_request', 'audience is required: the identifier of the API the token is for')
    expectError(t, await postToken(issuer, passwordGrant({ username: '' })), 400, 'invalid_request', 'the password grant needs username and password')
    expectError(t, await postToken(issuer, passwordGrant({ password: '' }), { form: true }), 400, 'invalid_request', 'the password grant needs username and password')
  })

  t.test('invalid_request: malformed bodies', async t => {
    expectError(t, await rawPost(issuer, undefined), 400, 'invalid_request', 'grant_type is required')
    expectError(t, await rawPost(issuer, '{"grant_type":', 'application/json'), 400, 'invalid_request', 'malformed request')
    expectError(t, await rawPost(issuer, '', 'application/json'), 400, 'invalid_request', 'malformed request')
    expectError(t, await rawPost(issuer, '[]', 'application/json'), 400, 'invalid_request', 'body must be object')
    expectError(t, await rawPost(issuer, '{"grant_type":"client_credentials","client_id":{}}', 'application/json'), 400, 'invalid_request', 'body/client_id must be string')
    expectError(t, await rawPost(issuer, 'grant_type=client_credentials&scope=a&scope=b', 'application/x-www-form-urlencoded'), 400, 'invalid_request', 'body/scope must be string')
    expectError(t, await rawPost(issuer, 'grant_type=client_credentials', 'text/plain'), 400, 'invalid_request', 'send the parameters as application/x-www-form-urlencoded or application/json')
    expectError(t, await rawPost(issuer, JSON.stringify(reader({ padding: 'x'.repeat(20000) })), 'application/json'), 400, 'invalid_request', 'request body is larger than 16384 bytes')
  })

  t.test('invalid_request: two client authentication methods', async t => {
    expectError(t, await postToken(issuer, reader(), { basic: ['m2m-reader', SECRETS.reader] }), 400, 'invalid_request',
      'use one client authentication method: HTTP Basic or client_secret in the body, not both')
    expectError(t, await postToken(issuer, { ...readerWithoutCredentials, client_id: 'm2m-basic' }, { basic: ['m2m-reader', SECRETS.reader] }), 400, 'invalid_request',
      'client_id in the body differs from the one in the Authorization header')
    // The same client_id in both places is fine (some libraries send it).
    const same = await postToken(issuer, { ...readerWithoutCredentials, client_id: 'm2m-reader' }, { basic: ['m2m-reader', SECRETS.reader] })
    t.equal(same.status, 200)
  })

  t.test('unsupported_grant_type', async t => {
    expectError(t, await postToken(issuer, reader({ grant_type: 'authorization_code' })), 400, 'unsupported_grant_type', 'grant_type must be one of client_credentials, password')
  })

  t.test('invalid_client', async t => {
    const required = 'client authentication required: send client_id and client_secret in the body or by HTTP Basic'
    const failed = 'client authentication failed: unknown client or wrong secret'
    const unsupported = 'unsupported Authorization header: use Basic base64(client_id:client_secret)'
    const malformed = 'malformed Basic credentials: expected base64(client_id:client_secret)'
    expectError(t, await postToken(issuer, readerWithoutCredentials), 401, 'invalid_client', required)
    expectError(t, await postToken(issuer, { ...readerWithoutCredentials, client_id: 'm2m-reader' }), 401, 'invalid_client', required)
    expectError(t, await postToken(issuer, reader({ client_secret: 'wrong' })), 401, 'invalid_client', failed)
    expectError(t, await postToken(issuer, reader({ client_id: 'nobody' }), { form: true }), 401, 'invalid_client', failed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { basic: ['m2m-reader', 'wrong'] }), 401, 'invalid_client', failed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: 'Bearer abc' }), 401, 'invalid_client', unsupported)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: 'Basic' }), 401, 'invalid_client', unsupported)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: 'Basic abc def' }), 401, 'invalid_client', unsupported)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: basicHeader('no-colon') }), 401, 'invalid_client', malformed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: basicHeader(':secret') }), 401, 'invalid_client', malformed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: basicHeader('m2m-reader:') }), 401, 'invalid_client', malformed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: basicHeader('m2m%ZZreader:x') }), 401, 'invalid_client', malformed)
    expectError(t, await postToken(issuer, readerWithoutCredentials, { authorization: basicHeader('m2m-reader:%E0%A4%A') }), 401, 'invalid_client', malformed)
  })

  t.test('Basic credentials are form-decoded (RFC 6749 section 2.3.1)', async t => {
    const call = await postToken(issuer, readerWithoutCredentials, { authorization: `bAsIc  ${Buffer.from('m2m%2Dreader:reader%2Dsecret').toString('base64')}` })
    t.equal(call.status, 200)
  })

  t.test('unauthorized_client', async t => {
    expectError(t, await postToken(issuer, passwordGrant({ client_id: 'm2m-reader', client_secret: SECRETS.reader })), 400, 'unauthorized_client',
      'client "m2m-reader" may not use the password grant')
    expectError(t, await postToken(issuer, clientCredentials('local-app', SECRETS.app)), 400, 'unauthorized_client',
      'client "local-app" may not use the client_credentials grant')
  })

  t.test('access_denied', async t => {
    expectError(t, await postToken(issuer, reader({ audience: 'https://nope/api' })), 403, 'access_denied', 'Service not found: https://nope/api')
    expectError(t, await postToken(issuer, reader({ audience: OTHER_AUDIENCE })), 403, 'access_denied', `client "m2m-reader" is not authorized to access ${OTHER_AUDIENCE}`)
  })

  t.test('invalid_grant', async t => {
    expectError(t, await postToken(issuer, passwordGrant({ password: 'wrong' })), 400, 'invalid_grant', 'wrong username or password')
    expectError(t, await postToken(issuer, passwordGrant({ username: 'nobody@example.com' })), 400, 'invalid_grant', 'wrong username or password')
  })

  t.test('invalid_scope: never a token with scopes the client or user is not granted', async t => {
    expectError(t, await postToken(issuer, reader({ scope: 'read:messages write:messages' })), 400, 'invalid_scope',
      `client "m2m-reader" is not granted scope "write:messages" on ${AUDIENCE}`)
    expectError(t, await postToken(issuer, clientCredentials('m2m-basic', SECRETS.basic, { scope: 'read:messages' })), 400, 'invalid_scope',
      `client "m2m-basic" is not granted scope "read:messages" on ${AUDIENCE}`)
    expectError(t, await postToken(issuer, reader({ scope: 'delete:everything' })), 400, 'invalid_scope',
      `scope "delete:everything" is not defined for audience ${AUDIENCE}`)
    expectError(t, await postToken(issuer, passwordGrant({ scope: 'write:messages' })), 400, 'invalid_scope',
      `the user is not granted scope "write:messages" on ${AUDIENCE}`)
    // m2m-writer may write, but the user it acts for may not.
    expectError(t, await postToken(issuer, passwordGrant({ client_id: 'm2m-writer', client_secret: SECRETS.writer, scope: 'read:messages' })), 400, 'invalid_scope',
      `client "m2m-writer" is not granted scope "read:messages" on ${AUDIENCE}`)
    // The user has nothing at all on the other API.
    expectError(t, await postToken(issuer, passwordGrant({ audience: OTHER_AUDIENCE, scope: 'read:other' })), 400, 'invalid_scope',
      `the user is not granted scope "read:other" on ${OTHER_AUDIENCE}`)
  })

  t.test('not an endpoint', async t => {
    const response = await fetch(new URL('oauth/token?client_secret=x', issuer))
    t.equal(response.status, 404)
    t.same(await response.json(), { error: 'not_found', error_description: 'GET /oauth/token is not an endpoint of the local issuer' })
  })
})

t.test('scopes granted: defaults, repeats, and the intersection for users', async t => {
  const { issuer } = await startTestIssuer(t)
  const decode = (call: TokenCall): Record<string, unknown> =>
    JSON.parse(Buffer.from((call.body.access_token as string).split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>

  const repeated = await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader, { scope: ' read:messages  read:messages ' }))
  t.equal(repeated.body.scope, 'read:messages')

  // An API without RBAC has no permissions claim, and its own token lifetime.
  const other = await postToken(issuer, clientCredentials('m2m-writer', SECRETS.writer, { audience: OTHER_AUDIENCE }))
  t.match(other.body, { expires_in: 600, scope: 'read:other' })
  t.notOk('permissions' in decode(other))

  // Password grant: the user's scopes that the client may also act on; none on an API the user has nothing on.
  const user = await postToken(issuer, passwordGrant())
  t.match(decode(user), { scope: 'read:messages', permissions: ['read:messages'], sub: 'auth0|test-user', gty: 'password' })
  const nothing = await postToken(issuer, passwordGrant({ audience: OTHER_AUDIENCE }))
  t.match(nothing.body, { scope: '', expires_in: 600 })
  const writer = await postToken(issuer, passwordGrant({ client_id: 'm2m-writer', client_secret: SECRETS.writer }))
  t.equal(writer.body.scope, '')
})
