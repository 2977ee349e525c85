// The token client against a token endpoint on loopback that the tests control (token-server.ts)
// and a small API that answers 401 on demand. Refresh points are tested with a clock the test
// moves; waits (Retry-After, backoff, a 2 s token) are real.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import t, { type Test } from 'tap'
import {
  DiscoveryError, IssuerUnreachableError, TokenClient, TokenClientError, TokenRequestError, refreshAfter,
  type TokenClientOptions, type TokenRequest
} from '../../src/client/token-client.js'
import { TokenServer, issue, sequence, type Reply } from './token-server.js'

const SECRET = 's3cr3t-p@ss:w%rd'
const AUDIENCE = 'https://api.example.test'

async function tokenServer (t: Test): Promise<TokenServer> {
  const server = await TokenServer.start()
  t.teardown(async () => { await server.down() })
  return server
}

function clientOf (server: TokenServer, options: Partial<TokenClientOptions> = {}): TokenClient {
  return new TokenClient({ tokenEndpoint: server.tokenEndpoint, clientId: 'svc', clientSecret: SECRET, audience: AUDIENCE, ...options })
}

/** A clock the test moves by hand. */
function manualClock (): { start: number, now: () => number, advance: (ms: number) => void } {
  const start = Date.now()
  let now = start
  return { start, now: () => now, advance: ms => { now += ms } }
}

/** Polls `check` every 10 ms for up to 3 s. */
async function until (what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function many<T> (count: number, call: () => Promise<T>): Promise<T[]> {
  return await Promise.all(Array.from({ length: count }, call))
}

const distinct = (tokens: Array<{ accessToken: string }>): string[] => [...new Set(tokens.map(token => token.accessToken))]

t.test('1,000 concurrent calls on a cold cache cause one token request and one discovery', async t => {
  const server = await tokenServer(t)
  server.behaviour = issue(86_400, 200)
  const tokens = new TokenClient({ issuer: server.issuer, clientId: 'svc', clientSecret: SECRET, audience: AUDIENCE })
  const got = await many(1000, async () => await tokens.getToken())
  t.equal(server.calls.length, 1, 'one token request')
  t.equal(server.discoveryFetches, 1, 'one discovery')
  t.same(distinct(got), ['at-1'])
  const [call] = server.calls
  t.same(Object.fromEntries(call.form), { grant_type: 'client_credentials', audience: AUDIENCE, client_id: 'svc', client_secret: SECRET }, 'client_secret_post: id and secret in a form')
  t.equal(call.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(call.headers.authorization, undefined)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  t.equal(server.calls.length, 1, 'later calls are answered from the cache')
})

t.test('the refresh point: 80% of the lifetime or 60 s before expiry, whichever is earlier, never before half', async t => {
  t.equal(refreshAfter(86_400_000), 69_120_000, "Auth0's default day: after 19.2 hours")
  t.equal(refreshAfter(1_000_000), 800_000)
  t.equal(refreshAfter(200_000), 140_000, '60 s before expiry')
  t.equal(refreshAfter(60_000), 30_000, 'half of a short lifetime')
})

t.test('a token is reused until its refresh point, then its successor is fetched in the background', async t => {
  const server = await tokenServer(t)
  server.behaviour = issue(1000)
  const clock = manualClock()
  const tokens = clientOf(server, { now: clock.now })
  t.same(await tokens.getToken(), { accessToken: 'at-1', tokenType: 'Bearer', scope: undefined, expiresAt: clock.start + 1_000_000, refreshAt: clock.start + 800_000 })
  clock.advance(799_999)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await sleep(50)
  t.equal(server.calls.length, 1, 'no request before the refresh point')

  clock.advance(1)
  server.behaviour = issue(1000, 200)
  t.same(distinct(await many(100, async () => await tokens.getToken())), ['at-1'], 'callers keep the cached token meanwhile')
  await until('the new token', async () => (await tokens.getToken()).accessToken === 'at-2')
  t.equal(server.calls.length, 2, 'one background request for all of them')
  t.equal((await tokens.getToken()).refreshAt, clock.now() + 800_000)
})

t.test('with the real clock: a 2 s token is reused for 1 s, then refreshed', async t => {
  const server = await tokenServer(t)
  server.behaviour = issue(2)
  const tokens = clientOf(server)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await sleep(500)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  t.equal(server.calls.length, 1)
  await sleep(600)
  t.equal((await tokens.getToken()).accessToken, 'at-1', 'past the refresh point the cached token still answers')
  await until('the new token', async () => (await tokens.getToken()).accessToken === 'at-2')
  t.equal(server.calls.length, 2)
})

t.test('a background refresh that fails keeps serving the cached token, and is tried again after a pause that doubles', async t => {
  const server = await tokenServer(t)
  server.behaviour = issue(1000)
  const clock = manualClock()
  const tokens = clientOf(server, { now: clock.now, maxRetries: 0 })
  await tokens.getToken()
  server.behaviour = () => ({ status: 500, body: 'oops' })
  clock.advance(800_000)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await until('the background request', () => server.calls.length === 2)
  await sleep(100)
  t.equal((await tokens.getToken()).accessToken, 'at-1', 'its failure is not the callers\' problem')
  clock.advance(999)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await sleep(100)
  t.equal(server.calls.length, 2, 'no new attempt within a second of the failure')
  clock.advance(1)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await until('the second attempt', () => server.calls.length === 3)
  await sleep(100)
  clock.advance(1999)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await sleep(100)
  t.equal(server.calls.length, 3, 'two seconds after the second failure')
  server.behaviour = issue(1000)
  clock.advance(1)
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  await until('the new token', async () => (await tokens.getToken()).accessToken === 'at-4')
})

t.test('an issuer outage while a valid token is cached fails no call; once it expires calls fail until the issuer is back', async t => {
  const server = await tokenServer(t)
  server.behaviour = issue(1000)
  const clock = manualClock()
  const tokens = clientOf(server, { now: clock.now })
  await tokens.getToken()
  await server.down()
  for (const at of [800_000, 900_000, 999_999]) {
    clock.advance(at - (clock.now() - clock.start))
    t.same(distinct(await many(1000, async () => await tokens.getToken())), ['at-1'], `${at / 1000} s: 1,000 calls, all served`)
    await sleep(100)
  }
  clock.advance(1)
  await t.rejects(tokens.getToken(), { name: 'IssuerUnreachableError', url: server.tokenEndpoint, reason: 'ECONNREFUSED', message: `cannot reach ${server.tokenEndpoint} (ECONNREFUSED)` })
  await server.up()
  t.equal((await tokens.getToken()).accessToken, 'at-2')
})

t.test('429 with Retry-After in seconds is retried after that delay', async t => {
  const server = await tokenServer(t)
  server.behaviour = sequence({ status: 429, headers: { 'retry-after': '1' }, body: { error: 'too_many_requests' } })
  t.equal((await clientOf(server).getToken()).accessToken, 'at-2')
  const waited = server.calls[1].at - server.calls[0].at
  t.ok(waited >= 1000 && waited < 2500, `waited ${Math.round(waited)} ms`)
})

t.test('a Retry-After HTTP date is honoured too', async t => {
  const server = await tokenServer(t)
  server.behaviour = (call, n) => n === 1
    ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() }, body: { error: 'temporarily_unavailable' } }
    : issue()(call, n)
  t.equal((await clientOf(server).getToken()).accessToken, 'at-2')
  const waited = server.calls[1].at - server.calls[0].at
  t.ok(waited >= 900 && waited < 3000, `waited ${Math.round(waited)} ms (the date has whole seconds)`)
})

t.test('a Retry-After longer than maxRetryDelayMs fails at once', async t => {
  const server = await tokenServer(t)
  server.behaviour = () => ({ status: 429, headers: { 'retry-after': '3600' }, body: { error: 'too_many_requests', error_description: 'slow down' } })
  const started = performance.now()
  await t.rejects(clientOf(server, { maxRetryDelayMs: 5000 }).getToken(), {
    name: 'TokenRequestError', status: 429, error: 'too_many_requests', description: 'slow down', retryAfterMs: 3_600_000,
    message: 'token request failed with HTTP 429: too_many_requests'
  })
  t.equal(server.calls.length, 1)
  t.ok(performance.now() - started < 1000)
})

t.test('5xx answers are retried with a growing backoff, at most maxRetries times', async t => {
  const server = await tokenServer(t)
  server.behaviour = sequence({ status: 500, body: 'boom' }, { status: 503, headers: { 'retry-after': 'soon' } })
  t.equal((await clientOf(server).getToken()).accessToken, 'at-3')
  const [first, second, third] = server.calls.map(call => call.at)
  t.ok(second - first >= 250 && second - first < 1500, `first wait ${Math.round(second - first)} ms (0.25-0.5 s)`)
  t.ok(third - second >= 500 && third - second < 2000, `second wait ${Math.round(third - second)} ms (0.5-1 s; an unreadable Retry-After is ignored)`)

  const failing = await tokenServer(t)
  failing.behaviour = () => ({ status: 502, body: '<html>bad gateway</html>' })
  await t.rejects(clientOf(failing).getToken(), { name: 'TokenRequestError', status: 502, error: undefined, message: 'token request failed with HTTP 502: unexpected response' })
  t.equal(failing.calls.length, 3, 'the request and two retries')
  await t.rejects(clientOf(failing, { maxRetries: 0 }).getToken(), { name: 'TokenRequestError', status: 502 })
  t.equal(failing.calls.length, 4)
})

t.test('other failures are not retried', async t => {
  const server = await tokenServer(t)
  server.behaviour = () => ({ status: 400, body: { error: 'invalid_scope', error_description: 'not granted' } })
  await t.rejects(clientOf(server).getToken(), { name: 'TokenRequestError', status: 400, error: 'invalid_scope', description: 'not granted', retryAfterMs: undefined })
  t.equal(server.calls.length, 1)
  server.behaviour = () => ({ status: 401, body: { error: 'invalid_client', error_description: 'unknown client or wrong secret' } })
  await t.rejects(clientOf(server, { clientSecret: 'wrong' }).getToken(), {
    name: 'TokenRequestError', status: 401, error: 'invalid_client', description: 'unknown client or wrong secret'
  }, 'a secret under 8 characters is not masked: it would mask ordinary words')
  t.equal(server.calls.length, 2)
  server.behaviour = () => 'hang'
  await t.rejects(clientOf(server, { timeoutMs: 200 }).getToken(), {
    name: 'IssuerUnreachableError', url: server.tokenEndpoint, reason: 'The operation was aborted due to timeout'
  })
  t.equal(server.calls.length, 3, 'a timeout is not retried')
})

/** An API on loopback that answers each call with `status(authorization)` and records what it got. */
async function api (t: Test, status: (authorization: string) => number): Promise<{ url: string, seen: Array<{ authorization: string, body: string, custom: unknown }> }> {
  const seen: Array<{ authorization: string, body: string, custom: unknown }> = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => {
      const authorization = request.headers.authorization ?? ''
      seen.push({ authorization, body, custom: request.headers['x-custom'] })
      const code = status(authorization)
      response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ status: code }))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/private-scoped`, seen }
}

t.test('a 401 from the API invalidates the cached token once and retries once with a new one', async t => {
  const server = await tokenServer(t)
  const refused = new Set(['Bearer at-1'])
  const target = await api(t, authorization => refused.has(authorization) ? 401 : 200)
  const tokens = clientOf(server)
  const response = await tokens.fetch(target.url, { method: 'POST', body: 'hello', headers: { 'x-custom': 'kept', authorization: 'Bearer from-the-caller' } })
  t.equal(response.status, 200)
  t.same(target.seen, [
    { authorization: 'Bearer at-1', body: 'hello', custom: 'kept' },
    { authorization: 'Bearer at-2', body: 'hello', custom: 'kept' }
  ], 'the same request again, with the new token')
  t.equal(server.calls.length, 2)
  t.equal((await tokens.getToken()).accessToken, 'at-2', 'the new token is cached')

  refused.add('Bearer at-2')
  t.same([...new Set(await many(50, async () => (await tokens.fetch(target.url)).status))], [200])
  t.equal(server.calls.length, 3, '50 callers refused at once: one new token')

  tokens.invalidate({ accessToken: 'at-3', tokenType: 'Bearer', expiresAt: Infinity, refreshAt: Infinity, scope: undefined })
  t.equal((await tokens.getToken()).accessToken, 'at-3', 'a token the client did not hand out invalidates nothing')
})

t.test('a second 401 is returned to the caller, not retried again', async t => {
  const server = await tokenServer(t)
  const target = await api(t, () => 401)
  const tokens = clientOf(server)
  const response = await tokens.fetch(new URL(target.url))
  t.equal(response.status, 401)
  t.same(await response.json(), { status: 401 })
  t.same(target.seen.map(call => call.authorization), ['Bearer at-1', 'Bearer at-2'])
  t.equal(server.calls.length, 2)

  const body = new ReadableStream({ start (controller) { controller.enqueue(new TextEncoder().encode('streamed')); controller.close() } })
  const streamed = await tokens.fetch(target.url, { method: 'POST', body, duplex: 'half' } as RequestInit)
  t.equal(streamed.status, 401, 'a stream body cannot be sent twice: its 401 comes back at once')
  t.same(target.seen.slice(2), [{ authorization: 'Bearer at-2', body: 'streamed', custom: undefined }])
  t.equal(server.calls.length, 2)
})

t.test('each audience and scope gets its own token; the order of scopes does not matter', async t => {
  const server = await tokenServer(t)
  const tokens = clientOf(server, { scope: 'read:messages' })
  const got = async (request?: TokenRequest): Promise<string> => (await tokens.getToken(request)).accessToken
  t.equal(await got(), 'at-1', 'the defaults')
  t.equal(await got({ audience: AUDIENCE, scope: 'read:messages' }), 'at-1')
  t.equal(await got({ audience: 'https://other.example.test' }), 'at-2')
  t.equal(await got({ scope: 'write:messages read:messages' }), 'at-3')
  t.equal(await got({ scope: ' read:messages  write:messages read:messages ' }), 'at-3')
  t.equal(await got({ scope: '' }), 'at-4', 'no scope')
  t.same(server.calls.map(call => [call.form.get('audience'), call.form.get('scope')]), [
    [AUDIENCE, 'read:messages'],
    ['https://other.example.test', 'read:messages'],
    [AUDIENCE, 'read:messages write:messages'],
    [AUDIENCE, null]
  ])
  t.equal((await tokens.getToken({ scope: 'write:messages read:messages' })).scope, 'read:messages write:messages', 'the scope granted')

  const noAudience = clientOf(server, { audience: undefined })
  t.equal((await noAudience.getToken()).accessToken, 'at-5')
  t.same(Object.fromEntries(server.calls[4].form), { grant_type: 'client_credentials', client_id: 'svc', client_secret: SECRET }, 'no audience parameter')
})

t.test('client_secret_basic: id and secret form-encoded in HTTP Basic, not in the body', async t => {
  const server = await tokenServer(t)
  await clientOf(server, { clientId: 'svc:1', authMethod: 'client_secret_basic' }).getToken()
  const [call] = server.calls
  t.same(Object.fromEntries(call.form), { grant_type: 'client_credentials', audience: AUDIENCE })
  t.equal(call.headers.authorization, `Basic ${Buffer.from(`svc%3A1:${encodeURIComponent(SECRET)}`).toString('base64')}`)
})

t.test('discovery: once, again after a failure; a document without a usable token endpoint is refused', async t => {
  const server = await tokenServer(t)
  const discoveryUrl = `${server.issuer}.well-known/openid-configuration`
  const discovering = (): TokenClient => new TokenClient({ issuer: server.issuer.slice(0, -1), clientId: 'svc', clientSecret: SECRET, audience: AUDIENCE })
  const tokens = discovering()
  server.discovery = { status: 500, body: 'down' }
  await t.rejects(tokens.getToken(), { name: 'DiscoveryError', url: discoveryUrl, message: `discovery at ${discoveryUrl} failed: HTTP 500` })
  server.discovery = undefined
  t.equal((await tokens.getToken()).accessToken, 'at-1')
  t.equal((await tokens.getToken({ audience: 'https://other.example.test' })).accessToken, 'at-2')
  t.equal(server.discoveryFetches, 2, 'the failed one, then one for every audience')

  await t.rejects(new TokenClient({ issuer: `${server.issuer}tenant`, clientId: 'svc', clientSecret: SECRET }).getToken(), {
    name: 'DiscoveryError', url: `${server.issuer}tenant/.well-known/openid-configuration`
  }, 'an issuer with a path: discovery under it')

  const unusable: Array<[Reply, string]> = [
    [{ body: { issuer: server.issuer } }, `discovery at ${discoveryUrl} failed: no token_endpoint in the document`],
    [{ body: 'not json' }, `discovery at ${discoveryUrl} failed: no token_endpoint in the document`],
    [{ body: ['a list'] }, `discovery at ${discoveryUrl} failed: no token_endpoint in the document`],
    [{ body: 'null' }, `discovery at ${discoveryUrl} failed: no token_endpoint in the document`],
    [{ body: { token_endpoint: 'http://issuer.example.test/oauth/token' } },
      `the token_endpoint discovered at ${discoveryUrl} must be an https URL (http only to localhost) without user or password`]
  ]
  for (const [reply, message] of unusable) {
    server.discovery = reply
    await t.rejects(discovering().getToken(), { message }, message)
  }
  server.discovery = 'hang'
  await t.rejects(new TokenClient({ issuer: server.issuer, clientId: 'svc', clientSecret: SECRET, timeoutMs: 200 }).getToken(), {
    name: 'IssuerUnreachableError', url: discoveryUrl, reason: 'The operation was aborted due to timeout'
  })
  t.equal(server.calls.length, 2)
})

t.test('answers without a usable token; redirects are not followed', async t => {
  const server = await tokenServer(t)
  const elsewhere = await tokenServer(t)
  const cases: Array<[Reply, number, string | undefined]> = [
    [{ body: 'not json' }, 200, 'the answer has no access_token'],
    [{ body: { access_token: '', token_type: 'Bearer' } }, 200, 'the answer has no access_token'],
    [{ body: { access_token: 'at-x', token_type: 'DPoP', expires_in: 60 } }, 200, 'the answer\'s token_type is not Bearer'],
    [{ body: { access_token: 'at-x', expires_in: 60 } }, 200, 'the answer\'s token_type is not Bearer'],
    [{ status: 307, headers: { location: elsewhere.tokenEndpoint } }, 307, undefined]
  ]
  for (const [reply, status, description] of cases) {
    server.behaviour = () => reply
    await t.rejects(clientOf(server).getToken(), { name: 'TokenRequestError', status, description, message: `token request failed with HTTP ${status}: unexpected response` })
  }
  t.equal(elsewhere.calls.length, 0, 'the secret did not follow the redirect')

  server.behaviour = (_call, n) => ({ body: { access_token: `once-${n}`, token_type: 'bearer' } })
  const tokens = clientOf(server)
  t.same(distinct(await many(10, async () => await tokens.getToken())), ['once-6'], 'without expires_in, the callers waiting share it')
  t.equal((await tokens.getToken()).accessToken, 'once-7', 'but it is not cached')
})

t.test('no secret and no token appears in any error', async t => {
  const server = await tokenServer(t)
  const plain = 'plainsecret42'
  const leaks = [SECRET, encodeURIComponent(SECRET), plain, 'at-leaked']
  const errors: unknown[] = []
  const collect = async (call: () => Promise<unknown>): Promise<void> => {
    await call().then(() => { t.fail('expected a failure') }, (error: unknown) => { errors.push(error) })
  }
  const replies: Array<[Reply, string]> = [
    [{ status: 401, body: { error: 'invalid_client', error_description: `wrong secret ${SECRET} for svc` } }, SECRET],
    [{ status: 400, body: { error: plain, error_description: plain } }, plain],
    [{ status: 400, body: { error: `invalid_request ${SECRET}` } }, SECRET],
    [{ status: 500, body: `<html>${SECRET} at-leaked</html>` }, SECRET],
    [{ status: 200, body: { access_token: 'at-leaked', token_type: 'DPoP' } }, SECRET]
  ]
  for (const [reply, secret] of replies) {
    server.behaviour = () => reply
    await collect(async () => await clientOf(server, { clientSecret: secret, maxRetries: 0 }).getToken())
  }
  t.match(errors[0], { error: 'invalid_client', description: 'wrong secret [secret] for svc' })
  t.match(errors[1], { error: undefined, description: '[secret]' })
  t.match(errors[2], { error: undefined })

  const api401 = await api(t, () => 401)
  server.behaviour = () => ({ status: 400, body: { error: 'invalid_grant' } })
  await collect(async () => await clientOf(server).fetch(api401.url))
  server.behaviour = () => 'hang'
  await collect(async () => await clientOf(server, { timeoutMs: 100 }).getToken())
  await server.down()
  await collect(async () => await clientOf(server).getToken())
  await collect(async () => new TokenClient({ tokenEndpoint: `https://svc:${encodeURIComponent(SECRET)}@issuer.example.test/oauth/token`, clientId: 'svc', clientSecret: SECRET }))
  await collect(async () => new TokenClient({ tokenEndpoint: `http://issuer.example.test/oauth/token?secret=${plain}`, clientId: 'svc', clientSecret: plain }))

  t.equal(errors.length, 10)
  for (const error of errors) {
    t.type(error, TokenClientError)
    const texts = [(error as Error).message, (error as Error).stack, JSON.stringify(error), inspect(error)].join('\n')
    t.notOk(leaks.some(leak => texts.includes(leak)), (error as Error).message)
  }
  t.notOk(inspect(clientOf(server)).includes(SECRET), 'nor does inspecting a client show its secret')
})

t.test('options are checked when the client is made', async t => {
  const base = { clientId: 'svc', clientSecret: SECRET }
  t.throws(() => new TokenClient(base), { name: 'TokenClientError', message: 'issuer or tokenEndpoint is required' })
  t.throws(() => new TokenClient({ ...base, clientSecret: '', issuer: 'https://issuer.example.test/' }), { message: 'clientId and clientSecret are required' })
  t.throws(() => new TokenClient({ ...base, clientId: '', issuer: 'https://issuer.example.test/' }), { message: 'clientId and clientSecret are required' })
  const rejected = ['not a url', 'ftp://issuer.example.test/', 'http://issuer.example.test/', 'https://user:pw@issuer.example.test/', 'https://:pw@issuer.example.test/']
  for (const url of rejected) {
    t.throws(() => new TokenClient({ ...base, issuer: url }), { message: 'issuer must be an https URL (http only to localhost) without user or password' }, url)
    t.throws(() => new TokenClient({ ...base, tokenEndpoint: url }), { message: 'tokenEndpoint must be an https URL (http only to localhost) without user or password' }, url)
  }
  for (const url of ['https://issuer.example.test/', 'http://localhost:3011/', 'http://127.0.0.1:3011/', 'http://[::1]:3011/']) {
    t.doesNotThrow(() => new TokenClient({ ...base, issuer: url }), url)
  }
  t.type(new DiscoveryError('https://issuer.example.test/', 'x'), TokenClientError)
  t.type(new IssuerUnreachableError('https://issuer.example.test/', 'x'), TokenClientError)
  t.type(new TokenRequestError(500, undefined, undefined, undefined), TokenClientError)
})
