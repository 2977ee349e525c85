import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import { buildApp, envFor, LogCapture } from '../helpers/app.js'
import { offered } from '../helpers/challenges.js'
import { KeyServer, makeKey } from '../helpers/key-server.js'
import { keySetOf } from '../helpers/issuers.js'

// Issue 4 through the whole app: readiness, status codes, headers and bodies while the issuer
// rotates, floods, hangs and fails. The KeySet's own timing is tested in key-set.test.ts with
// millisecond settings; these use the environment, whose minimums are in seconds.

/** Polls until the condition holds; fails the test with `what` after a generous deadline. */
async function waitFor (what: string, condition: () => boolean | Promise<boolean>, limitMs = 8000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function startServer (t: { teardown: (fn: () => Promise<void>) => void }, keys = [makeKey('RSA')]): Promise<KeyServer> {
  const server = await KeyServer.start(keys)
  t.teardown(() => server.close())
  return server
}

const REFRESH_FAILED = 'could not refresh the issuer key set; still serving the last good set'
const DROPPED = 'the issuer key set passed its stale limit and was dropped; tokens are refused until it loads'
const WARN = 40
const ERROR = 50

const UNAVAILABLE = {
  statusCode: 503,
  error: 'Service Unavailable',
  code: 'AUTH_KEYS_UNAVAILABLE',
  message: 'The issuer\'s signing keys could not be loaded, so the token cannot be verified now; retry later'
}
const UNKNOWN_KEY = {
  statusCode: 401,
  error: 'Unauthorized',
  code: 'AUTH_UNKNOWN_KEY',
  message: 'The access token is signed with a key the issuer does not publish'
}
const UNKNOWN_KEY_CHALLENGE =
  offered('Bearer realm="api", error="invalid_token", error_description="The access token is signed with a key the issuer does not publish"')
const PRIVATE = { message: 'Hello from a private endpoint! You need to be authenticated to see this.' }

async function startApp (t: { teardown: (fn: () => Promise<void>) => void }, server: KeyServer, env: Record<string, string> = {}) {
  const logs = new LogCapture()
  const app = await buildApp(envFor(server, env), logs)
  t.teardown(() => app.close())
  const call = (token: string) => app.inject({ url: '/api/private', headers: { authorization: `Bearer ${token}` } })
  return { app, logs, call }
}

/** No request ever became a 500 and nothing was logged as an unexpected error. */
function neverCrashed (t: { same: (a: unknown, b: unknown, m: string) => void }, logs: LogCapture): void {
  t.same(logs.lines.filter(line => line.msg === 'unexpected error' || line.statusCode === 500), [], 'never a 500')
}

function assertUnavailable (t: Test, response: Awaited<ReturnType<FastifyInstance['inject']>>, what: string): void {
  t.equal(response.statusCode, 503, `${what}: 503`)
  t.equal(response.headers['www-authenticate'], offered('Bearer realm="api"'), `${what}: a challenge`)
  t.match(response.headers['retry-after'], /^[1-9]\d*$/, `${what}: Retry-After in seconds`)
  t.same(response.json(), UNAVAILABLE, `${what}: the body`)
}

// Independent apps that mostly wait on the cooldown and TTL clocks: run them side by side.
test('key set resilience through the app', { jobs: 8 }, async t => {
  t.test('readiness is 503 with the reason until the keys load, then 200; liveness is always 200', async t => {
    const server = await startServer(t)
    server.behaviour = 'error'
    const { app, logs, call } = await startApp(t, server, { JWKS_COOLDOWN: '1' })

    const live = await app.inject('/health/live')
    t.equal(live.statusCode, 200)
    t.same(live.json(), { status: 'live' })

    const notReady = await app.inject('/health/ready')
    t.equal(notReady.statusCode, 503)
    t.same(notReady.json(), {
      status: 'not ready',
      issuers: [{ issuer: server.issuer, ready: false, keys: 0, stale: false, reason: `${server.jwksUri}: answered HTTP 500` }],
      replayStore: { kind: 'memory', ready: true }
    })
    assertUnavailable(t, await call(server.sign()), 'a valid token before the keys load')

    server.behaviour = 'ok'
    await waitFor('readiness', async () => (await app.inject('/health/ready')).statusCode === 200)
    const ready = await app.inject('/health/ready')
    t.same(ready.json(), {
      status: 'ready',
      issuers: [{ issuer: server.issuer, ready: true, keys: 1, ageSeconds: ready.json().issuers[0].ageSeconds, stale: false }],
      replayStore: { kind: 'memory', ready: true }
    })
    t.ok(ready.json().issuers[0].ageSeconds <= 1)
    const accepted = await call(server.sign())
    t.equal(accepted.statusCode, 200)
    t.same(accepted.json(), PRIVATE)
    t.equal((await app.inject('/health/live')).statusCode, 200)
    neverCrashed(t, logs)
  })

  t.test('an issuer that hangs at start-up: start-up waits only the timeout, and readiness says so', async t => {
    const server = await startServer(t)
    server.behaviour = 'hang'
    const started = Date.now()
    const { app } = await startApp(t, server, { JWKS_TIMEOUT: '200' })
    t.ok(Date.now() - started < 5000, 'ready() is not held by the hung issuer')
    const notReady = await app.inject('/health/ready')
    t.equal(notReady.statusCode, 503)
    t.equal(notReady.json().issuers[0].reason, `${server.jwksUri}: no response within 200 ms`)
  })

  t.test('a discovery document naming another issuer is refused, visibly', async t => {
    const server = await startServer(t)
    server.discovery = { issuer: 'https://evil.example/', jwks_uri: server.jwksUri }
    const { app, call } = await startApp(t, server)
    const notReady = await app.inject('/health/ready')
    t.equal(notReady.statusCode, 503)
    t.equal(notReady.json().issuers[0].reason,
      `the discovery document names issuer "https://evil.example/", not the configured "${server.issuer}"`)
    t.equal(server.jwksFetches, 0)
    assertUnavailable(t, await call(server.sign()), 'a token while the issuer is untrusted')
  })

  t.test('JWKS_URI skips discovery', async t => {
    const server = await startServer(t)
    server.jwksPath = '/custom/jwks'
    server.discovery = { issuer: 'https://evil.example/', jwks_uri: 'https://evil.example/jwks' }
    const { app, call } = await startApp(t, server, { JWKS_URI: server.jwksUri })
    t.equal((await app.inject('/health/ready')).statusCode, 200)
    t.equal(server.discoveryFetches, 0)
    t.equal((await call(server.sign())).statusCode, 200)
  })

  t.test('a flood of a few hundred random kids costs one fetch; each is 401 AUTH_UNKNOWN_KEY', async t => {
    const server = await startServer(t)
    const { logs, call } = await startApp(t, server, { JWKS_COOLDOWN: '1' })
    await sleep(1100) // past the cooldown: the flood may (and should) cause exactly one refetch
    const tokens = Array.from({ length: 300 }, () => server.sign({}, { key: { ...server.keys[0], kid: randomUUID() } }))

    const before = server.jwksFetches
    const responses = await Promise.all(tokens.map(call))
    t.equal(server.jwksFetches - before, 1, 'three hundred unknown kids, one fetch')
    t.ok(responses.every(response => response.statusCode === 401), 'all 401')
    t.ok(responses.every(response => response.headers['www-authenticate'] === UNKNOWN_KEY_CHALLENGE), 'all with the challenge')
    t.same(responses[0].json(), UNKNOWN_KEY)
    t.ok(responses.every(response => response.body === responses[0].body), 'all the same body')

    const again = await Promise.all(tokens.map(call))
    t.equal(server.jwksFetches - before, 1, 'a second wave within the cooldown costs nothing')
    t.ok(again.every(response => response.statusCode === 401))
    t.equal((await call(server.sign())).statusCode, 200, 'real tokens are unaffected')
    neverCrashed(t, logs)
  })

  t.test('rotation: a new key is accepted after one refetch; a removed key is refused, even for a cached token', async t => {
    const old = makeKey()
    const server = await startServer(t, [old])
    const { logs, call } = await startApp(t, server, { JWKS_COOLDOWN: '1' })
    const oldToken = server.sign()
    t.equal((await call(oldToken)).statusCode, 200, 'verified, and now cached')
    t.equal((await call(oldToken)).statusCode, 200)

    const fresh = makeKey()
    server.keys.push(fresh)
    await sleep(1100) // one cooldown
    const before = server.jwksFetches
    const fresher = await Promise.all(Array.from({ length: 50 }, () => call(server.sign({}, { key: fresh }))))
    t.ok(fresher.every(response => response.statusCode === 200), 'the new key is accepted')
    t.equal(server.jwksFetches - before, 1, 'fifty concurrent requests with the new kid, one fetch')

    server.published = [fresh]
    await sleep(1100) // one cooldown; then an unknown kid makes the set refresh
    const probe = await call(server.sign({}, { key: { ...old, kid: randomUUID() } }))
    t.equal(probe.statusCode, 401)
    t.equal(server.jwksFetches - before, 2)

    const refused = await call(oldToken)
    t.equal(refused.statusCode, 401, 'the same token that got 200 is now refused')
    t.equal(refused.headers['www-authenticate'], UNKNOWN_KEY_CHALLENGE)
    t.same(refused.json(), UNKNOWN_KEY)
    t.equal((await call(server.sign({}, { key: fresh }))).statusCode, 200)
    neverCrashed(t, logs)
  })

  t.test('a request with a known key does not wait on a hung issuer', async t => {
    const server = await startServer(t)
    const { app, call } = await startApp(t, server, { JWKS_TIMEOUT: '10000' })
    server.behaviour = 'hang'
    const refreshing = keySetOf(app).refresh() // what the background timer does
    await waitFor('the refresh to hang on the issuer', () => server.jwksFetches === 2)
    const tokens = Array.from({ length: 20 }, (_, index) => server.sign({ jti: String(index) }))
    let slowest = 0
    for (const token of tokens) {
      const started = performance.now()
      const response = await call(token)
      slowest = Math.max(slowest, performance.now() - started)
      t.equal(response.statusCode, 200)
    }
    t.ok(slowest < 5000, `far below the 10 s timeout (slowest ${Math.round(slowest)} ms)`)
    t.equal(keySetOf(app).status().reason, undefined, 'the refresh was still under way')
    await app.close()
    await refreshing // closing abandons the hung fetch
  })

  t.test('outage: the last good set serves until TTL + stale limit, then 503 with Retry-After', async t => {
    const server = await startServer(t)
    const { app, logs, call } = await startApp(t, server, {
      JWKS_CACHE_TTL: '10', JWKS_STALE_LIMIT: '0', JWKS_COOLDOWN: '1', JWKS_TIMEOUT: '1000'
    })
    const cached = server.sign()
    t.equal((await call(cached)).statusCode, 200)

    for (const behaviour of ['error', 'hang', 'garbage', 'empty', 'huge', 'redirect', 'slow-body'] as const) {
      server.behaviour = behaviour
      await keySetOf(app).refresh()
      t.equal((await call(server.sign())).statusCode, 200, `${behaviour}: a valid token is still 200`)
      t.equal((await call(cached)).statusCode, 200, `${behaviour}: and so is a cached one`)
      const ready = await app.inject('/health/ready')
      t.equal(ready.statusCode, 200, `${behaviour}: still ready`)
      t.type(ready.json().issuers[0].reason, 'string', `${behaviour}: with the reason`)
    }
    const warnings = logs.lines.filter(line => line.msg === REFRESH_FAILED)
    t.ok(warnings.length >= 7 && warnings.every(line => line.level === WARN && line.component === 'key-set'), 'each failure logged as a warning')

    server.behaviour = 'error'
    const unknown = await call(server.sign({}, { key: { ...server.keys[0], kid: randomUUID() } }))
    assertUnavailable(t, unknown, 'an unknown kid while the issuer fails')

    await waitFor('the set to pass TTL + stale limit', async () => (await app.inject('/health/ready')).statusCode === 503, 15_000)
    t.equal((await app.inject('/health/ready')).json().issuers[0].reason, `${server.jwksUri}: answered HTTP 500`)
    assertUnavailable(t, await call(cached), 'the cached token once the set is dropped')
    assertUnavailable(t, await call(server.sign()), 'a new valid token once the set is dropped')
    t.ok(logs.lines.some(line => line.msg === DROPPED && line.level === ERROR), 'the drop is logged as an error')

    server.behaviour = 'ok'
    await waitFor('recovery', async () => (await app.inject('/health/ready')).statusCode === 200)
    t.equal((await call(cached)).statusCode, 200, 'verified again once the set loads')
    neverCrashed(t, logs)
  })
})
