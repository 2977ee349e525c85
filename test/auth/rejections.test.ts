import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { buildApp, envFor } from '../helpers/app.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'
import { rawRequest } from '../helpers/raw-http.js'

/** Every rejection: status, the exact WWW-Authenticate (Bearer's, then the DPoP offer), and the whole JSON body. */
const invalidToken = (code: string, message: string) => ({
  status: 401,
  challenge: offered(`Bearer realm="api", error="invalid_token", error_description="${message}"`),
  body: { statusCode: 401, error: 'Unauthorized', code, message }
})
const invalidRequest = (code: string, message: string) => ({
  status: 400,
  challenge: offered(`Bearer realm="api", error="invalid_request", error_description="${message}"`),
  body: { statusCode: 400, error: 'Bad Request', code, message }
})
const MISSING = {
  status: 401,
  challenge: offered('Bearer realm="api"'),
  body: { statusCode: 401, error: 'Unauthorized', code: 'AUTH_MISSING_TOKEN', message: 'An access token is required: send it in the Authorization header as Bearer <token>' }
}
const MALFORMED_HEADER = invalidRequest('AUTH_MALFORMED_AUTHORIZATION', 'The Authorization header is malformed: expected a scheme and a token, as in Bearer <token>')
const DUPLICATE = invalidRequest('AUTH_DUPLICATE_TOKEN', 'The access token must be sent exactly once, in a single Authorization header')
const MALFORMED = invalidToken('AUTH_TOKEN_MALFORMED', 'The access token is not a well-formed signed JWT')
const ALGORITHM = invalidToken('AUTH_ALGORITHM_NOT_ALLOWED', 'The access token is signed with an algorithm that is not allowed')
const SIGNATURE = invalidToken('AUTH_INVALID_SIGNATURE', 'The access token signature is invalid')
const MISSING_CLAIM = invalidToken('AUTH_MISSING_CLAIM', 'The access token lacks a required claim (exp, iss and aud are required)')
const INVALID_CLAIM = invalidToken('AUTH_INVALID_CLAIM', 'The access token has a claim of the wrong type or value')

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

test('rejections', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys))
  t.teardown(async () => { await app.close(); await keys.close() })
  const [signer] = keys.keys
  const now = Math.floor(Date.now() / 1000)

  const cases: Array<[string, Record<string, string> | undefined, ReturnType<typeof invalidToken>, string?]> = [
    ['no Authorization header', undefined, MISSING],
    ['another scheme (Basic)', { authorization: 'Basic dXNlcjpwYXNz' }, MISSING],
    ['an empty Authorization header', { authorization: '' }, MISSING],
    ['Bearer without a token', { authorization: 'Bearer' }, MALFORMED_HEADER],
    ['Bearer with only spaces', { authorization: 'Bearer    ' }, MALFORMED_HEADER],
    ['a token with a space inside', { authorization: 'Bearer abc def' }, MALFORMED_HEADER],
    ['a token with characters outside b64token', { authorization: 'Bearer abc$def' }, MALFORMED_HEADER],
    ['not a JWT', { authorization: 'Bearer abc' }, MALFORMED],
    ['an unsigned JWT (alg none, empty signature)', { authorization: `Bearer ${b64({ alg: 'none' })}.${b64({})}.` }, MALFORMED],
    ['a JWE-shaped token', { authorization: 'Bearer a.b.c.d.e' }, MALFORMED],
    ['a header that is not JSON', { authorization: 'Bearer bm90anNvbg.e30.c2ln' }, MALFORMED],
    ['alg none with a signature', { authorization: `Bearer ${b64({ alg: 'none', kid: signer.kid })}.${b64({})}.c2ln` }, ALGORITHM],
    ['HS256 (never allowed with a key set)', { authorization: `Bearer ${b64({ alg: 'HS256', kid: signer.kid })}.${b64({})}.c2ln` }, ALGORITHM],
    ['no kid', { authorization: `Bearer ${b64({ alg: 'RS256' })}.${b64(keys.claims())}.c2ln` },
      invalidToken('AUTH_TOKEN_HEADER_UNSUPPORTED', 'The access token header is not acceptable')],
    ['a forged signature', { authorization: `Bearer ${keys.sign().split('.').slice(0, 2).join('.')}.${'A'.repeat(342)}` }, SIGNATURE],
    ['an attacker key reusing the kid', { authorization: `Bearer ${keys.sign({}, { key: { ...makeKey('RSA', signer.kid) } })}` }, SIGNATURE],
    ['an expired token', { authorization: `Bearer ${keys.sign({ exp: now - 60 })}` },
      invalidToken('AUTH_TOKEN_EXPIRED', 'The access token expired')],
    ['a token not valid yet', { authorization: `Bearer ${keys.sign({ nbf: now + 600 })}` },
      invalidToken('AUTH_TOKEN_NOT_YET_VALID', 'The access token is not valid yet')],
    ['another issuer', { authorization: `Bearer ${keys.sign({ iss: 'https://evil.example/' })}` },
      invalidToken('AUTH_WRONG_ISSUER', 'The access token was issued by an issuer this API does not trust')],
    ['another audience', { authorization: `Bearer ${keys.sign({ aud: 'https://other.example' })}` },
      invalidToken('AUTH_WRONG_AUDIENCE', 'The access token is not intended for this API (audience mismatch)')],
    ['an audience list without ours', { authorization: `Bearer ${keys.sign({ aud: ['a', 'b'] })}` },
      invalidToken('AUTH_WRONG_AUDIENCE', 'The access token is not intended for this API (audience mismatch)')],
    ['no exp', { authorization: `Bearer ${keys.sign({}, { without: ['exp'] })}` }, MISSING_CLAIM],
    ['no iss', { authorization: `Bearer ${keys.sign({}, { without: ['iss'] })}` }, MISSING_CLAIM],
    ['no aud', { authorization: `Bearer ${keys.sign({}, { without: ['aud'] })}` }, MISSING_CLAIM],
    ['aud as a number', { authorization: `Bearer ${keys.signRaw(keys.claims({ aud: 42 }))}` }, INVALID_CLAIM],
    ['exp as a string', { authorization: `Bearer ${keys.signRaw(keys.claims({ exp: String(now + 600) }))}` }, INVALID_CLAIM],
    ['scope as an object', { authorization: `Bearer ${keys.signRaw(keys.claims({ scope: { read: true } }))}` }, INVALID_CLAIM],
    ['permissions as a string', { authorization: `Bearer ${keys.signRaw(keys.claims({ permissions: 'read:messages' }))}` }, INVALID_CLAIM],
    ['an unknown critical header', { authorization: `Bearer ${keys.signRaw(keys.claims(), { header: { crit: ['exp-ext'], 'exp-ext': 1 } })}` },
      invalidToken('AUTH_UNSUPPORTED_CRITICAL_HEADER', 'The access token requires a critical header extension this API does not support')]
  ]

  for (const [name, headers, expected] of cases) {
    await t.test(name, async t => {
      // Twice: the second answer may come from the rejection cache and must be identical.
      for (let round = 0; round < 2; round++) {
        const response = await app.inject({ url: '/api/private', headers })
        t.equal(response.statusCode, expected.status)
        t.equal(response.headers['www-authenticate'], expected.challenge)
        t.same(response.json(), expected.body)
        t.equal(response.headers['content-type'], 'application/json; charset=utf-8')
      }
    })
  }

  await t.test('a token in the query string is refused, alone or with the header', async t => {
    const alone = await app.inject({ url: '/api/private?access_token=abc' })
    t.equal(alone.statusCode, 400)
    t.same(alone.json(), invalidRequest('AUTH_TOKEN_IN_QUERY', 'Access tokens are not accepted in the URL: send it in the Authorization header').body)
    const both = await app.inject({ url: '/api/private?access_token=abc', headers: { authorization: `Bearer ${keys.sign()}` } })
    t.equal(both.statusCode, 400)
    t.equal(both.headers['www-authenticate'], DUPLICATE.challenge)
    t.same(both.json(), DUPLICATE.body)
  })

  await t.test('the token sent in two Authorization headers is a 400', async t => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const token = keys.sign()
    const { status, headers, body } = await rawRequest(port, '/api/private', [`Authorization: Bearer ${token}`, `authorization: Bearer ${token}`])
    const challenge = headers['www-authenticate']
    t.equal(status, 400)
    t.equal(challenge, DUPLICATE.challenge)
    t.same(JSON.parse(body), DUPLICATE.body)
  })

  await t.test('a scheme written in lower case and extra spaces are accepted', async t => {
    const response = await app.inject({ url: '/api/private', headers: { authorization: `bearer   ${keys.sign()}` } })
    t.equal(response.statusCode, 200)
  })

  await t.test('an expired token within the clock tolerance is accepted', async t => {
    const response = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign({ exp: now - 2 })}` } })
    t.equal(response.statusCode, 200)
  })

  await t.test('an audience list that contains ours is accepted', async t => {
    const response = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign({ aud: ['other', keys.audience] })}` } })
    t.equal(response.statusCode, 200)
  })

  await t.test('an unknown route is a JSON 404', async t => {
    const response = await app.inject('/nowhere?access_token=secret')
    t.equal(response.statusCode, 404)
    t.same(response.json(), { statusCode: 404, error: 'Not Found', code: 'NOT_FOUND', message: 'Route GET /nowhere not found' })
  })
})
