import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type Test } from 'tap'
import { buildApp } from '../helpers/app.js'
import { assertRejected, REJECTED } from '../helpers/attacks.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'

// Several trusted issuers, each a real key server on loopback with its own keys.

const AUDIENCE = 'https://api.example.test'

async function issuers (t: Test, count: number): Promise<KeyServer[]> {
  const servers = await Promise.all(Array.from({ length: count }, async () => await KeyServer.start()))
  t.teardown(async () => { await Promise.all(servers.map(async server => await server.close())) })
  return servers
}

function envOf (servers: KeyServer[], extra: Record<string, string> = {}): Record<string, string> {
  return { ISSUER_BASE_URL: servers.map(server => server.issuer).join(','), AUDIENCE, LOG_LEVEL: 'silent', ...extra }
}

const call = async (app: Awaited<ReturnType<typeof buildApp>>, token: string, url = '/api/private') =>
  await app.inject({ url, headers: { authorization: `Bearer ${token}` } })

test('two and three issuers: each one\'s tokens verify with its own keys only', async t => {
  const servers = await issuers(t, 3)
  const app = await buildApp(envOf(servers))
  t.teardown(() => app.close())
  for (const [index, server] of servers.entries()) {
    const response = await call(app, server.sign({ sub: `client-${index}` }))
    t.equal(response.statusCode, 200, `issuer ${index}: accepted`)
  }
  const [first, second] = servers
  // A token that says it comes from the first issuer, signed by the second issuer's key and kid.
  assertRejected(t, await call(app, first.sign({}, { key: second.keys[0] })), REJECTED.UNKNOWN_KEY)
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().issuers.map((issuer: { issuer: string, ready: boolean }) => [issuer.issuer, issuer.ready]),
    servers.map(server => [server.issuer, true]), '/health/ready reports each issuer')
})

test('the same kid published by two issuers never verifies the other issuer\'s token', async t => {
  const shared = 'shared-kid'
  const [a, b] = await Promise.all([KeyServer.start([makeKey('RSA', shared)]), KeyServer.start([makeKey('RSA', shared)])])
  t.teardown(async () => { await a.close(); await b.close() })
  const app = await buildApp(envOf([a, b]))
  t.teardown(() => app.close())
  t.equal((await call(app, a.sign())).statusCode, 200)
  t.equal((await call(app, b.sign())).statusCode, 200)
  // iss says a, the kid is a's too, the signature is b's key: a's key refuses it, twice (the second from memory).
  for (let round = 0; round < 2; round++) assertRejected(t, await call(app, a.sign({}, { key: b.keys[0] })), REJECTED.SIGNATURE)
  for (let round = 0; round < 2; round++) assertRejected(t, await call(app, b.sign({}, { key: a.keys[0] })), REJECTED.SIGNATURE)
  // A token verified once with a's key, used again, is still answered for a alone.
  const good = b.sign({ sub: 'reused' })
  for (let round = 0; round < 3; round++) t.equal((await call(app, good)).statusCode, 200)
})

test('one issuer down: the others serve, readiness says which (all by default, or any)', async t => {
  const [up, down] = await issuers(t, 2)
  down.behaviour = 'error'
  const app = await buildApp(envOf([up, down]))
  t.teardown(() => app.close())
  t.equal((await call(app, up.sign())).statusCode, 200, 'the healthy issuer\'s tokens pass')
  const unavailable = await call(app, down.sign())
  t.equal(unavailable.statusCode, 503, 'the failing issuer\'s tokens wait for its keys')
  t.equal(unavailable.json().code, 'AUTH_KEYS_UNAVAILABLE')
  const notReady = await app.inject('/health/ready')
  t.equal(notReady.statusCode, 503)
  t.match(notReady.json(), { status: 'not ready', issuers: [{ issuer: up.issuer, ready: true }, { issuer: down.issuer, ready: false, reason: `${down.jwksUri}: answered HTTP 500` }] })

  const lenient = await buildApp(envOf([up, down], { READY_WHEN: 'any' }))
  t.teardown(() => lenient.close())
  const ready = await lenient.inject('/health/ready')
  t.equal(ready.statusCode, 200, 'READY_WHEN=any: ready while one issuer serves')
  t.equal(ready.json().status, 'ready')
})

test('a flood of tokens from an unknown issuer costs no fetch at all', async t => {
  const [trusted] = await issuers(t, 1)
  const stranger = await KeyServer.start()
  t.teardown(() => stranger.close())
  const app = await buildApp(envOf([trusted]))
  t.teardown(() => app.close())
  const fetches = () => [trusted.jwksFetches, trusted.discoveryFetches, stranger.jwksFetches, stranger.discoveryFetches]
  const before = fetches()
  const flood = Array.from({ length: 300 }, (_, i) =>
    stranger.sign({ jti: `flood-${i}` }, { key: { ...stranger.keys[0], kid: `unknown-${i}` } }))
  const responses = await Promise.all(flood.map(async token => await call(app, token)))
  for (const response of responses.slice(0, 3)) assertRejected(t, response, REJECTED.WRONG_ISSUER)
  t.ok(responses.every(response => response.statusCode === 401 && response.json().code === 'AUTH_WRONG_ISSUER'), 'all 300 refused as the wrong issuer')
  t.same(fetches(), before, 'no key set or discovery fetch, from either server')
  t.same(stranger.requests, [], 'the unknown issuer was never contacted')
})

test('metrics carry the issuer label, bounded by the configuration', async t => {
  const servers = await issuers(t, 2)
  const app = await buildApp(envOf(servers, { METRICS_ENABLED: 'true' }))
  t.teardown(() => app.close())
  const text = (await app.inject('/metrics')).body
  for (const server of servers) {
    t.match(text, `auth_keyset_keys{issuer="${server.issuer}"} 1`)
    t.match(text, `auth_keyset_fetch_duration_seconds_count{issuer="${server.issuer}",result="ok"} 1`)
  }
})

test('ISSUERS_FILE: an issuer with its own audience and algorithms', async t => {
  const [rsa] = await issuers(t, 1)
  const ec = await KeyServer.start([makeKey('EC')])
  t.teardown(() => ec.close())
  const dir = mkdtempSync(join(tmpdir(), 'issuers-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'issuers.json')
  writeFileSync(file, JSON.stringify({ [ec.issuer]: { audience: 'https://ec-api', algorithms: ['ES256'] } }))
  const app = await buildApp(envOf([rsa, ec], { ISSUERS_FILE: file }))
  t.teardown(() => app.close())
  t.equal((await call(app, rsa.sign())).statusCode, 200)
  t.equal((await call(app, ec.sign({ aud: 'https://ec-api' }))).statusCode, 200)
  // The shared AUDIENCE is not the EC issuer's.
  assertRejected(t, await call(app, ec.sign()), REJECTED.WRONG_AUDIENCE)
  // RS256 is allowed for the first issuer, not for the EC one.
  const rsaKeyAsEc = ec.signRaw(ec.claims({ aud: 'https://ec-api' }), { key: { ...rsa.keys[0], kid: ec.keys[0].kid } })
  assertRejected(t, await call(app, rsaKeyAsEc), REJECTED.ALGORITHM)
})

test('STRICT_RFC9068: typ at+jwt and iat, sub, client_id, jti are required', async t => {
  const [server] = await issuers(t, 1)
  const app = await buildApp(envOf([server], { STRICT_RFC9068: 'true' }))
  t.teardown(() => app.close())
  const profile = { client_id: 'client', jti: 'id-1' }
  // signRaw: fast-jwt's signer (sign) leaves iat out.
  t.equal((await call(app, server.signRaw(server.claims(profile), { header: { typ: 'at+jwt' } }))).statusCode, 200)
  t.equal((await call(app, server.signRaw(server.claims(profile), { header: { typ: 'application/AT+JWT' } }))).statusCode, 200, 'the media type compares case-insensitively')
  const wrongType = { status: 401, code: 'AUTH_WRONG_TOKEN_TYPE', message: 'The access token is not typed as an access token (typ at+jwt, RFC 9068)' }
  for (const typ of ['JWT', undefined, 'at+jwt; charset=x']) {
    const response = await call(app, server.signRaw(server.claims(profile), { header: { typ } }))
    t.equal(response.statusCode, wrongType.status, `typ ${String(typ)}`)
    t.match(response.json(), { code: wrongType.code, message: wrongType.message })
    t.equal(response.headers['www-authenticate'], offered(`Bearer realm="api", error="invalid_token", error_description="${wrongType.message}"`))
  }
  for (const claim of ['iat', 'sub', 'client_id', 'jti']) {
    const claims = server.claims({ ...profile, jti: `without-${claim}` })
    delete claims[claim]
    const response = await call(app, server.signRaw(claims, { header: { typ: 'at+jwt' } }))
    t.equal(response.statusCode, 401)
    t.same(response.json(), { statusCode: 401, error: 'Unauthorized', code: 'AUTH_MISSING_CLAIM', message: 'The access token lacks a claim RFC 9068 requires (iat, sub, client_id and jti)' }, `without ${claim}`)
  }
  const offByDefault = await buildApp(envOf([server]))
  t.teardown(() => offByDefault.close())
  t.equal((await call(offByDefault, server.sign())).statusCode, 200, 'off by default: Auth0 tokens are typed JWT')
})

test('MAX_TOKEN_AGE: iat no older than the limit, and required', async t => {
  const [server] = await issuers(t, 1)
  const app = await buildApp(envOf([server], { MAX_TOKEN_AGE: '60' }))
  t.teardown(() => app.close())
  const now = Math.floor(Date.now() / 1000)
  t.equal((await call(app, server.signRaw(server.claims({ iat: now - 30 })))).statusCode, 200)
  const old = await call(app, server.signRaw(server.claims({ iat: now - 120 })))
  t.same(old.json(), { statusCode: 401, error: 'Unauthorized', code: 'AUTH_TOKEN_TOO_OLD', message: 'The access token was issued longer ago than this API accepts' })
  const missing = await call(app, server.sign({}, { without: ['iat'] }))
  t.same(missing.json(), { statusCode: 401, error: 'Unauthorized', code: 'AUTH_MISSING_CLAIM', message: 'The access token lacks the iat claim this API requires to know its age' })
})

test('a cached token is refused once it passes MAX_TOKEN_AGE, even before its exp', async t => {
  const [server] = await issuers(t, 1)
  const app = await buildApp(envOf([server], { MAX_TOKEN_AGE: '2' }))
  t.teardown(() => app.close())
  const token = server.signRaw(server.claims())
  for (let use = 0; use < 3; use++) t.equal((await call(app, token)).statusCode, 200, 'valid, cached from its second use')
  t.equal(app.tokenCacheStats().hits, 1)
  await new Promise(resolve => setTimeout(resolve, 3100))
  t.equal((await call(app, token)).json().code, 'AUTH_TOKEN_TOO_OLD')
})

/** An HS256 token as Auth0 signs it for an API with HS256: the secret's UTF-8 bytes as the key. */
function hs256 (secret: string | Buffer, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${encode({ alg: 'HS256', typ: 'JWT', ...header })}.${encode(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

test('HS256 mode: the configured secret verifies, nothing else does', async t => {
  const secret = 'a-very-long-shared-secret-of-at-least-32-bytes'
  const [rsa] = await issuers(t, 1)
  const hmacIssuer = 'https://hs.example/'
  const dir = mkdtempSync(join(tmpdir(), 'issuers-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'issuers.json')
  writeFileSync(file, JSON.stringify({ [hmacIssuer]: { algorithms: 'HS256' } }))
  const app = await buildApp({ ISSUER_BASE_URL: `${rsa.issuer},${hmacIssuer}`, AUDIENCE, SECRET: secret, ISSUERS_FILE: file, LOG_LEVEL: 'silent' })
  t.teardown(() => app.close())
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: hmacIssuer, aud: AUDIENCE, sub: 'svc', iat: now, exp: now + 600, scope: 'read:messages' }

  t.equal((await call(app, hs256(secret, claims), '/api/private-scoped')).statusCode, 200, 'no kid needed')
  t.equal((await call(app, hs256(secret, claims, { kid: 'any' }))).statusCode, 200, 'a kid is allowed, and unused')
  assertRejected(t, await call(app, hs256('another-secret-another-secret-another', claims)), REJECTED.SIGNATURE)
  assertRejected(t, await call(app, hs256(secret, { ...claims, exp: now - 600 })), REJECTED.EXPIRED)
  t.equal((await call(app, rsa.sign())).statusCode, 200, 'the key-set issuer still works beside it')

  // Algorithm confusion, both ways: the RSA issuer's public key as an HMAC secret, and an RS256 token for the HMAC issuer.
  const publicPem = (await import('node:crypto')).createPublicKey(rsa.keys[0].privateKey).export({ type: 'spki', format: 'pem' })
  const rsaClaims = rsa.claims()
  assertRejected(t, await call(app, hs256(publicPem, rsaClaims, { kid: rsa.keys[0].kid })), REJECTED.ALGORITHM)
  assertRejected(t, await call(app, hs256(publicPem, claims)), REJECTED.SIGNATURE)
  assertRejected(t, await call(app, rsa.signRaw(claims)), REJECTED.ALGORITHM)
  t.equal((await app.inject('/health/ready')).statusCode, 200, 'an HMAC issuer is always ready')
})

test('a key set of 500 keys: every key verifies, the 250th and a rotated key appended last', async t => {
  const keys = Array.from({ length: 500 }, (_, index) => makeKey('EC', `ec-${index}`))
  const server = await KeyServer.start(keys)
  t.teardown(() => server.close())
  const app = await buildApp(envOf([server], { ALGORITHMS: 'ES256' }))
  t.teardown(() => app.close())
  t.equal((await call(app, server.sign({}, { key: keys[250] }))).statusCode, 200)
  t.equal((await call(app, server.sign({}, { key: keys[499] }))).statusCode, 200)
  t.equal((await app.inject('/health/ready')).json().issuers[0].keys, 500)
})
