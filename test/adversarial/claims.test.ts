import t, { type Test } from 'tap'
import { UnknownKey } from '../../src/auth/errors.js'
import { rejectionFor } from '../../src/auth/jwt-errors.js'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { assertCleanLogs, assertRejected, assertStillServes, REJECTED, signText, throwAll, tokensOf, type Attack } from '../helpers/attacks.js'
import { keySetOf } from '../helpers/issuers.js'

/*
 * Tokens the issuer really signed, but that must not get in: the wrong issuer or audience, out
 * of their time window, or claims of the wrong type. A signature proves who made the token, not
 * that it is meant for us, now, in a shape our handlers can trust.
 */

const keys = await KeyServer.start()
const logs = new LogCapture()
const app = await buildApp(envFor(keys), logs)
t.teardown(async () => { await app.close(); await keys.close() })
const [issuerKey] = keys.keys
const now = Math.floor(Date.now() / 1000)
/** Beyond the default 5 s clock tolerance, with room for a slow test machine. */
const PAST = now - 120
const FUTURE = now + 600

const used: Attack[] = []
async function corpus (t: Test, attacks: Attack[]): Promise<void> {
  used.push(...attacks)
  await throwAll(t, app, attacks)
  await assertStillServes(t, app, keys)
}
/** Signed by the issuer's real key, with these changes to an otherwise valid claim set. */
const signed = (changes: Record<string, unknown>, without: string[] = []) => {
  const claims = keys.claims(changes)
  for (const name of without) delete claims[name]
  return `Bearer ${keys.signRaw(claims)}`
}
/** Signed by the issuer's real key, the payload exactly as written (numbers JSON.stringify cannot make). */
const signedText = (payloadText: string) =>
  `Bearer ${signText(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: issuerKey.kid }), payloadText, issuerKey.privateKey)}`

t.test('the wrong issuer, or none', async t => {
  // Tokens from another tenant, from a look-alike URL, or an iss shaped to slip past a sloppy
  // comparison (array, prefix, case, trailing space). Only the configured issuer, exactly, is trusted.
  const issuer = keys.issuer
  const attacks: Attack[] = [
    { name: 'another issuer', authorization: signed({ iss: 'https://evil.example/' }), expected: REJECTED.WRONG_ISSUER },
    { name: 'our issuer without its trailing slash', authorization: signed({ iss: issuer.slice(0, -1) }), expected: REJECTED.WRONG_ISSUER },
    { name: 'our issuer with a path added', authorization: signed({ iss: `${issuer}evil/` }), expected: REJECTED.WRONG_ISSUER },
    { name: 'our issuer in upper case', authorization: signed({ iss: issuer.toUpperCase() }), expected: REJECTED.WRONG_ISSUER },
    { name: 'our issuer with a trailing space', authorization: signed({ iss: `${issuer} ` }), expected: REJECTED.WRONG_ISSUER },
    { name: 'our issuer inside an array', authorization: signed({ iss: [issuer] }), expected: REJECTED.WRONG_ISSUER },
    { name: 'iss empty', authorization: signed({ iss: '' }), expected: REJECTED.WRONG_ISSUER },
    { name: 'iss a number', authorization: signed({ iss: 1 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'iss an object', authorization: signed({ iss: { url: issuer } }), expected: REJECTED.INVALID_CLAIM },
    { name: 'iss null', authorization: signed({ iss: null }), expected: REJECTED.INVALID_CLAIM },
    { name: 'iss absent', authorization: signed({}, ['iss']), expected: REJECTED.MISSING_CLAIM }
  ]
  await corpus(t, attacks)
})

t.test('the wrong audience, or none', async t => {
  // A token minted for another API of the same tenant must not open this one: the audience is
  // what scopes a token to us. Look-alikes, empty lists and mixed-type lists included.
  const audience = keys.audience
  const attacks: Attack[] = [
    { name: 'another API', authorization: signed({ aud: 'https://other.example' }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'our audience with a trailing slash', authorization: signed({ aud: `${audience}/` }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'our audience in upper case', authorization: signed({ aud: audience.toUpperCase() }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'a list without ours', authorization: signed({ aud: ['https://a.example', 'https://b.example'] }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'an empty list', authorization: signed({ aud: [] }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'an empty string', authorization: signed({ aud: '' }), expected: REJECTED.WRONG_AUDIENCE },
    { name: 'aud a number', authorization: signed({ aud: 42 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'ours in a list with a number', authorization: signed({ aud: [audience, 42] }), expected: REJECTED.INVALID_CLAIM },
    { name: 'ours nested in a list', authorization: signed({ aud: [[audience]] }), expected: REJECTED.INVALID_CLAIM },
    { name: 'aud an object', authorization: signed({ aud: { [audience]: true } }), expected: REJECTED.INVALID_CLAIM },
    { name: 'aud true', authorization: signed({ aud: true }), expected: REJECTED.INVALID_CLAIM },
    { name: 'aud null', authorization: signed({ aud: null }), expected: REJECTED.INVALID_CLAIM },
    { name: 'aud absent', authorization: signed({}, ['aud']), expected: REJECTED.MISSING_CLAIM }
  ]
  await corpus(t, attacks)
})

t.test('outside the time window: expired, not yet valid, or no expiry', async t => {
  // A stolen token is only useful until it expires, so exp is required and enforced (with the
  // configured 5 s of clock tolerance, no more); nbf in the future is honoured.
  const attacks: Attack[] = [
    { name: 'expired two minutes ago', authorization: signed({ exp: PAST }), expected: REJECTED.EXPIRED },
    { name: 'expired just past the tolerance', authorization: signed({ exp: now - 30 }), expected: REJECTED.EXPIRED },
    { name: 'expired at the epoch', authorization: signed({ exp: 0 }), expected: REJECTED.EXPIRED },
    { name: 'exp negative', authorization: signed({ exp: -1 }), expected: REJECTED.EXPIRED },
    { name: 'exp in milliseconds of a past time', authorization: signed({ exp: -Date.now() }), expected: REJECTED.EXPIRED },
    { name: 'exp absent', authorization: signed({}, ['exp']), expected: REJECTED.MISSING_CLAIM },
    { name: 'not valid for ten minutes', authorization: signed({ nbf: FUTURE }), expected: REJECTED.NOT_YET_VALID },
    { name: 'not valid for a minute', authorization: signed({ nbf: now + 60 }), expected: REJECTED.NOT_YET_VALID },
    { name: 'not valid and already expired', authorization: signed({ nbf: FUTURE, exp: PAST }), expected: REJECTED.NOT_YET_VALID },
    // Times no Date can hold: fast-jwt's error message formats them and used to throw a
    // RangeError, a 500. They are bad claims.
    { name: 'exp -1e20', authorization: signedText(JSON.stringify(keys.claims({ exp: -1e20 }))), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp -1e400 (parses as -Infinity)', authorization: signedText(JSON.stringify(keys.claims({ exp: 0 })).replace('"exp":0', '"exp":-1e400')), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp 1e400 (parses as Infinity: never expires)', authorization: signedText(JSON.stringify(keys.claims({ exp: 0 })).replace('"exp":0', '"exp":1e400')), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp 1e20 (past the last time a Date can hold)', authorization: signed({ exp: 1e20 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'nbf 1e20', authorization: signed({ nbf: 1e20 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'nbf 1e400', authorization: signedText(JSON.stringify(keys.claims({ nbf: 0 })).replace('"nbf":0', '"nbf":1e400')), expected: REJECTED.INVALID_CLAIM },
    // Handlers are promised a NumericDate in iat too, not Infinity.
    { name: 'iat 1e400', authorization: signedText(JSON.stringify(keys.claims({ iat: 0 })).replace('"iat":0', '"iat":1e400')), expected: REJECTED.INVALID_CLAIM },
    { name: 'iat -1e20', authorization: signed({ iat: -1e20 }), expected: REJECTED.INVALID_CLAIM }
  ]
  await corpus(t, attacks)
})

t.test('claims of the wrong type', async t => {
  // Claims a route handler reads as typed values (AccessTokenClaims): a number where a string is
  // promised, an object where a list is. A lenient verifier hands these to code that trusts them.
  const attacks: Attack[] = [
    { name: 'exp a numeric string', authorization: signed({ exp: String(FUTURE) }), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp an array', authorization: signed({ exp: [FUTURE] }), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp null', authorization: signed({ exp: null }), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp true', authorization: signed({ exp: true }), expected: REJECTED.INVALID_CLAIM },
    { name: 'exp an object', authorization: signed({ exp: { $gt: 0 } }), expected: REJECTED.INVALID_CLAIM },
    { name: 'nbf a string', authorization: signed({ nbf: String(PAST) }), expected: REJECTED.INVALID_CLAIM },
    { name: 'scope an object', authorization: signed({ scope: { 'read:messages': true } }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'scope an array', authorization: signed({ scope: ['read:messages'] }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'scope a number', authorization: signed({ scope: 1 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'permissions a string', authorization: signed({ permissions: 'read:messages' }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'permissions with a number', authorization: signed({ permissions: ['read:messages', 1] }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'permissions an object', authorization: signed({ permissions: { 0: 'read:messages', length: 1 } }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'scp a number', authorization: signed({ scp: 7 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'scp a list with an object', authorization: signed({ scp: ['read:messages', {}] }), url: '/api/private-scoped', expected: REJECTED.INVALID_CLAIM },
    { name: 'sub an object', authorization: signed({ sub: { id: 'admin' } }), expected: REJECTED.INVALID_CLAIM },
    { name: 'sub an array', authorization: signed({ sub: ['admin', 'user'] }), expected: REJECTED.INVALID_CLAIM },
    { name: 'sub a number', authorization: signed({ sub: 0 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'sub null', authorization: signed({ sub: null }), expected: REJECTED.INVALID_CLAIM },
    { name: 'iat a string', authorization: signed({ iat: 'yesterday' }), expected: REJECTED.INVALID_CLAIM },
    { name: 'jti a number', authorization: signed({ jti: 7 }), expected: REJECTED.INVALID_CLAIM },
    { name: 'azp an array', authorization: signed({ azp: ['a', 'b'] }), expected: REJECTED.INVALID_CLAIM },
    { name: 'gty an object', authorization: signed({ gty: {} }), expected: REJECTED.INVALID_CLAIM }
  ]
  await corpus(t, attacks)
})

t.test('payloads that are not a claims object', async t => {
  // The signature is fine, but what it signs is not a JWT claims set at all.
  const attacks: Attack[] = [
    { name: 'an array', authorization: signedText('[]'), expected: REJECTED.MALFORMED },
    { name: 'a string', authorization: signedText('"claims"'), expected: REJECTED.MALFORMED },
    { name: 'null', authorization: signedText('null'), expected: REJECTED.MALFORMED },
    { name: 'a number', authorization: signedText('42'), expected: REJECTED.MALFORMED },
    { name: 'not JSON', authorization: signedText('{"iss":'), expected: REJECTED.MALFORMED },
    { name: 'JSON after a byte order mark', authorization: signedText(`\ufeff${JSON.stringify(keys.claims())}`), expected: REJECTED.MALFORMED },
    { name: 'empty', authorization: signedText(''), expected: REJECTED.MALFORMED }
  ]
  await corpus(t, attacks)
})

t.test('claims that try to pollute prototypes', async t => {
  // `__proto__` in the claims: a verifier or a handler that merges claims with Object.assign
  // would inherit a scope the issuer never granted. JSON.parse keeps it an inert own property.
  const response = await app.inject({
    url: '/api/private-scoped',
    headers: { authorization: signedText(JSON.stringify(keys.claims()).replace('{', '{"__proto__":{"scope":"read:messages","permissions":["read:messages"]},')) }
  })
  t.equal(response.statusCode, 403, 'no scope inherited from __proto__')
  t.equal(response.json().code, 'AUTH_INSUFFICIENT_SCOPE')
  const constructor = await app.inject({
    url: '/api/private-scoped',
    headers: { authorization: signedText(JSON.stringify(keys.claims()).replace('{', '{"constructor":{"prototype":{"scope":"read:messages"}},')) }
  })
  t.equal(constructor.statusCode, 403, 'nor from constructor.prototype')
  t.equal(({} as Record<string, unknown>).scope, undefined, 'Object.prototype untouched')
  await assertStillServes(t, app, keys)
})

t.test('a token remembered as verified still expires on time', async t => {
  // The verified-token cache skips the signature check for known tokens; it must not skip the
  // clock. A token used while valid and replayed after its exp (no tolerance here) is refused.
  const strict = await buildApp(envFor(keys, { CLOCK_TOLERANCE: '0' }))
  t.teardown(() => strict.close())
  // At least a second ahead, so the first call is surely in time.
  const exp = Math.floor(Date.now() / 1000) + 2
  const authorization = `Bearer ${keys.sign({ exp })}`
  for (let use = 0; use < 3; use++) {
    t.equal((await strict.inject({ url: '/api/private', headers: { authorization } })).statusCode, 200, 'valid (cached on its second use)')
  }
  t.equal(strict.tokenCacheStats().hits, 1, 'the third use was answered from the cache')
  await new Promise(resolve => setTimeout(resolve, exp * 1000 - Date.now() + 50))
  for (let round = 0; round < 2; round++) {
    assertRejected(t, await strict.inject({ url: '/api/private', headers: { authorization } }), REJECTED.EXPIRED)
  }
})

t.test('while a key is fetched, a refusal is a 401 and a bug a 500', async t => {
  const fetching = await buildApp(envFor(keys))
  t.teardown(() => fetching.close())
  const call = async () => await fetching.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign()}` } })
  keySetOf(fetching).get = async () => { throw new UnknownKey() }
  assertRejected(t, await call(), REJECTED.UNKNOWN_KEY)
  keySetOf(fetching).get = async () => { throw new Error('a bug in the key set') }
  const bug = await call()
  t.equal(bug.statusCode, 500)
  t.same(bug.json(), { statusCode: 500, error: 'Internal Server Error', code: 'INTERNAL_ERROR', message: 'An unexpected error occurred' })
})

t.test('nothing leaked, nothing broke', async t => {
  assertCleanLogs(t, logs, tokensOf(used))
})

t.test('an error no rejection stands for is left as it is, to be answered as a bug (500)', async t => {
  const bug = new RangeError('a bug')
  t.equal(rejectionFor(bug, () => keys.sign()), bug)
  t.equal(rejectionFor(null, () => keys.sign()), null)
  const unknown = Object.assign(new Error('?'), { code: 'FAST_JWT_SOMETHING_NEW' })
  t.equal(rejectionFor(unknown, () => keys.sign()), unknown)
})
