import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { test } from 'tap'
import { AuthRejection } from '../../src/auth/errors.js'
import type { IssuerKey } from '../../src/auth/jwks.js'
import { KeySet, type KeySetOptions } from '../../src/auth/key-set.js'
import { LogCapture } from '../helpers/app.js'
import { KeyServer, makeKey, type TestKey } from '../helpers/key-server.js'

// Issue 4 at the KeySet level: a real key server, millisecond settings. What the app makes of it
// (status codes, challenges, bodies, readiness) is asserted in key-set-app.test.ts.

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Polls until the condition holds; fails the test with `what` after a generous deadline. */
async function waitFor (what: string, condition: () => boolean | Promise<boolean>, limitMs = 8000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** The rejection a lookup ends with. */
async function rejectionOf (lookup: IssuerKey | Promise<IssuerKey>): Promise<AuthRejection> {
  try {
    await lookup
  } catch (error) {
    if (error instanceof AuthRejection) return error
    throw error
  }
  throw new Error('expected the lookup to be rejected')
}

/** A key-set log line (as pino wrote it) with this message. */
function logged (logs: LogCapture, msg: string): Array<Record<string, unknown>> {
  return logs.lines.filter(line => line.msg === msg)
}

const REFRESH_FAILED = 'could not refresh the issuer key set; still serving the last good set'
const LOAD_FAILED = 'could not load the issuer key set; tokens cannot be verified until it loads'
const DROPPED = 'the issuer key set passed its stale limit and was dropped; tokens are refused until it loads'
const LOADED = 'issuer key set loaded'
const WARN = 40
const ERROR = 50

/** A KeySet against a real key server, with ms-level timings; closed when the test ends. */
function keySetFor (t: { teardown: (fn: () => void) => void }, server: KeyServer, options: Partial<KeySetOptions> = {}) {
  const logs = new LogCapture()
  const retired: string[][] = []
  const keySet = new KeySet({
    issuer: server.issuer,
    jwksUri: undefined,
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    timeoutMs: 1000,
    maxBytes: 64 * 1024,
    ttlMs: 60_000,
    cooldownMs: 60_000,
    staleLimitMs: 60_000,
    log: pino({ level: 'debug' }, logs),
    onKeysRetired: kids => { retired.push(kids) },
    ...options
  })
  t.teardown(() => keySet.close())
  return { keySet, logs, retired }
}

/** A key server; EC keys by default, which are quick to make (the app-level tests use RSA). */
async function startServer (t: { teardown: (fn: () => Promise<void>) => void }, keys = [makeKey('EC')]): Promise<KeyServer> {
  const server = await KeyServer.start(keys)
  t.teardown(() => server.close())
  return server
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise(resolve => probe.close(resolve))
  return port
}

function shortRsaKey (kid: string): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  return { kid, alg: 'RS256', privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } }
}

/** The same key published with something wrong with it. */
function tampered (key: TestKey, change: Record<string, unknown>): TestKey {
  return { ...key, publicJwk: { ...key.publicJwk, ...change } }
}

// ---------------------------------------------------------------------------------------------
// The KeySet on its own, with millisecond timings
// ---------------------------------------------------------------------------------------------

test('start-up: the set is fetched once and known keys are served synchronously', async t => {
  const rsa = makeKey('RSA')
  const ec = makeKey('EC')
  const server = await startServer(t, [rsa, ec])
  const { keySet, logs } = keySetFor(t, server)

  t.same(keySet.status(), { ready: false, keys: 0, stale: false, reason: 'the key set has not been fetched yet' })
  await keySet.start()
  t.same(keySet.status(), { ready: true, keys: 2, ageSeconds: 0, stale: false })
  t.equal(server.discoveryFetches, 1)
  t.equal(server.jwksFetches, 1)

  const key = keySet.get(rsa.kid)
  t.notOk(key instanceof Promise, 'a known key needs no await')
  t.equal((key as IssuerKey).kid, rsa.kid)
  t.match((key as IssuerKey).pem, /BEGIN PUBLIC KEY/)
  t.same((keySet.get(ec.kid) as IssuerKey).algorithms, ['ES256'])

  const [loaded] = logged(logs, LOADED)
  t.equal(loaded.level, 30, 'a change is logged at info')
  t.same(loaded.kids, [rsa.kid, ec.kid])
  t.equal(loaded.jwksUri, server.jwksUri)

  await keySet.refresh()
  t.equal(server.discoveryFetches, 1, 'the discovered URL is kept')
  t.equal(server.jwksFetches, 2)
  t.equal(logged(logs, LOADED)[1].level, 20, 'an unchanged set is logged at debug')
  t.same(keySet.status(), { ready: true, keys: 2, ageSeconds: 0, stale: false })
})

test('discovery', async t => {
  await t.test('the key set URL comes from the OpenID configuration', async t => {
    const server = await startServer(t)
    server.jwksPath = '/oauth/keys'
    const { keySet } = keySetFor(t, server)
    await keySet.start()
    t.equal(keySet.status().ready, true)
    t.same(server.requests, ['/.well-known/openid-configuration', '/oauth/keys'])
  })

  await t.test('an issuer without discovery (404) publishes at .well-known/jwks.json', async t => {
    const server = await startServer(t)
    server.discovery = 'missing'
    const { keySet } = keySetFor(t, server)
    await keySet.start()
    t.equal(keySet.status().ready, true)
    await keySet.refresh()
    t.same(server.requests, ['/.well-known/openid-configuration', '/.well-known/jwks.json', '/.well-known/jwks.json'],
      'the fallback is remembered like a discovered URL')
  })

  await t.test('an issuer configured without a trailing slash', async t => {
    const server = await startServer(t)
    const issuer = server.issuer.slice(0, -1)
    server.discovery = { issuer, jwks_uri: server.jwksUri }
    const { keySet } = keySetFor(t, server, { issuer })
    await keySet.start()
    t.equal(keySet.status().ready, true)
    t.equal(server.requests[0], '/.well-known/openid-configuration')
  })

  await t.test('a configured key set URL skips discovery', async t => {
    const server = await startServer(t)
    server.jwksPath = '/configured/jwks'
    const { keySet } = keySetFor(t, server, { jwksUri: server.jwksUri })
    await keySet.start()
    t.equal(keySet.status().ready, true)
    t.equal(server.discoveryFetches, 0)
    t.same(server.requests, ['/configured/jwks'])
  })

  await t.test('plain http to loopback by name is allowed', async t => {
    const server = await startServer(t)
    server.discovery = { issuer: server.issuer, jwks_uri: `http://localhost:${server.port}/.well-known/jwks.json` }
    const { keySet } = keySetFor(t, server)
    await keySet.start()
    t.equal(keySet.status().ready, true)
  })

  await t.test('documents that must not be trusted are refused, and the reason shows in status', async t => {
    const server = await startServer(t)
    const lies: Array<[Record<string, unknown> | null, string]> = [
      [{ issuer: 'https://evil.example/', jwks_uri: server.jwksUri },
        `the discovery document names issuer "https://evil.example/", not the configured "${server.issuer}"`],
      [{ jwks_uri: server.jwksUri }, `the discovery document names issuer undefined, not the configured "${server.issuer}"`],
      [null, `the discovery document names issuer undefined, not the configured "${server.issuer}"`],
      [{ issuer: server.issuer }, 'the discovery document has no jwks_uri'],
      [{ issuer: server.issuer, jwks_uri: 42 }, 'the discovery document has no jwks_uri'],
      [{ issuer: server.issuer, jwks_uri: 'not a url' }, 'the discovery document\'s jwks_uri is not a URL'],
      [{ issuer: server.issuer, jwks_uri: 'http://keys.example/jwks.json' }, 'the discovery document\'s jwks_uri is not https'],
      [{ issuer: server.issuer, jwks_uri: 'http://127.0.0.1.example/jwks.json' }, 'the discovery document\'s jwks_uri is not https'],
      [{ issuer: server.issuer, jwks_uri: 'file:///etc/jwks.json' }, 'the discovery document\'s jwks_uri is not https']
    ]
    for (const [document, reason] of lies) {
      server.discovery = document
      const { keySet, logs } = keySetFor(t, server)
      await keySet.start()
      t.same(keySet.status(), { ready: false, keys: 0, stale: false, reason }, reason)
      t.equal(logged(logs, LOAD_FAILED)[0]?.level, WARN)
      t.equal(logged(logs, LOAD_FAILED)[0]?.reason, reason)
      keySet.close()
    }
    t.equal(server.jwksFetches, 0, 'no key set was fetched from a refused document')
  })

  await t.test('an unreachable discovery endpoint', async t => {
    const port = await closedPort()
    const server = await startServer(t)
    const { keySet } = keySetFor(t, server, { issuer: `http://127.0.0.1:${port}/` })
    await keySet.start()
    t.same(keySet.status(), {
      ready: false, keys: 0, stale: false,
      reason: `http://127.0.0.1:${port}/.well-known/openid-configuration: unreachable (ECONNREFUSED)`
    })
  })

  await t.test('discovery is repeated after a failure', async t => {
    const server = await startServer(t)
    const { keySet } = keySetFor(t, server)
    await keySet.start()
    server.behaviour = 'error'
    await keySet.refresh()
    server.behaviour = 'ok'
    await keySet.refresh()
    t.equal(server.discoveryFetches, 2, 'the issuer may have moved its keys')
    t.equal(keySet.status().ready, true)
  })
})

test('concurrent lookups of an unknown kid share one fetch', async t => {
  const first = makeKey('EC')
  const server = await startServer(t, [first])
  const { keySet } = keySetFor(t, server, { cooldownMs: 50 })
  await keySet.start()
  const added = makeKey('EC')
  server.keys.push(added)
  await sleep(60)

  const lookups = Array.from({ length: 100 }, () => keySet.get(added.kid))
  const keys = await Promise.all(lookups)
  t.equal(server.jwksFetches, 2, 'one fetch for a hundred lookups')
  t.ok(keys.every(key => key === keys[0] && key.kid === added.kid), 'all got the same key')

  await sleep(60)
  const unknown = await Promise.all(Array.from({ length: 100 }, () => rejectionOf(keySet.get(randomUUID()))))
  t.equal(server.jwksFetches, 3, 'one fetch for a hundred unknown kids')
  t.ok(unknown.every(rejection => rejection.code === 'AUTH_UNKNOWN_KEY' && rejection.statusCode === 401))
})

test('a flood of random kids within the cooldown costs no fetch and leaves the set as it was', async t => {
  const server = await startServer(t)
  const { keySet } = keySetFor(t, server, { cooldownMs: 60_000 })
  await keySet.start()
  const rejections = await Promise.all(Array.from({ length: 1000 }, () => rejectionOf(keySet.get(randomUUID()))))
  t.equal(server.jwksFetches, 1, 'only the start-up fetch')
  t.ok(rejections.every(rejection => rejection.code === 'AUTH_UNKNOWN_KEY'), 'every made-up kid is 401 AUTH_UNKNOWN_KEY')
  t.same(keySet.status(), { ready: true, keys: 1, ageSeconds: 0, stale: false }, 'the set is untouched')
})

test('rotation: a newly published key is accepted after one refetch, at most one cooldown later', async t => {
  const old = makeKey('EC')
  const server = await startServer(t, [old])
  const { keySet, retired } = keySetFor(t, server, { cooldownMs: 300 })
  await keySet.start()
  const fresh = makeKey('Ed25519')
  server.keys.push(fresh)

  const early = await rejectionOf(keySet.get(fresh.kid))
  t.equal(early.code, 'AUTH_UNKNOWN_KEY', 'within the cooldown the set is not refetched')
  t.equal(server.jwksFetches, 1)

  await sleep(320)
  const lookup = keySet.get(fresh.kid)
  t.ok(lookup instanceof Promise, 'the lookup waits for the refetch')
  t.equal((await lookup).kid, fresh.kid)
  t.equal(server.jwksFetches, 2, 'exactly one refetch')
  t.notOk(keySet.get(fresh.kid) instanceof Promise, 'known from then on')
  t.same(retired, [], 'adding a key retires none')
})

test('removal: a key that leaves the set stops being accepted once the set is refreshed', async t => {
  const leaving = makeKey('EC')
  const staying = makeKey('EC')
  const server = await startServer(t, [leaving, staying])
  const { keySet, retired, logs } = keySetFor(t, server)
  await keySet.start()
  t.notOk(keySet.get(leaving.kid) instanceof Promise)

  server.published = [staying]
  await keySet.refresh()
  t.same(retired, [[leaving.kid]], 'the verifier is told, so it forgets what the key verified')
  t.equal((await rejectionOf(keySet.get(leaving.kid))).code, 'AUTH_UNKNOWN_KEY')
  t.same(logged(logs, LOADED).at(-1)?.kids, [staying.kid])
  t.equal(logged(logs, LOADED).at(-1)?.level, 30)

  const replaced = makeKey('EC', staying.kid)
  const before = keySet.get(staying.kid) as IssuerKey
  server.published = [replaced]
  await keySet.refresh()
  t.same(retired, [[leaving.kid], [staying.kid]], 'new material under the same kid retires the old key')
  const after = keySet.get(staying.kid) as IssuerKey
  t.not(after.pem, before.pem)
})

test('outage: every kind of issuer failure keeps the last good set serving, with a warning', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet, logs, retired } = keySetFor(t, server, { timeoutMs: 200 })
  await keySet.start()

  const faults: Array<[string, () => void, string | RegExp]> = [
    ['5xx', () => { server.behaviour = 'error' }, `${server.jwksUri}: answered HTTP 500`],
    ['hang (no headers)', () => { server.behaviour = 'hang' }, `${server.jwksUri}: no response within 200 ms`],
    ['hang (body never ends)', () => { server.behaviour = 'slow-body' }, `${server.jwksUri}: no response within 200 ms`],
    ['invalid JSON', () => { server.behaviour = 'garbage' }, `${server.jwksUri}: response is not valid JSON`],
    ['empty set', () => { server.behaviour = 'empty' }, 'the key set has no usable signing key'],
    ['redirect', () => { server.behaviour = 'redirect' }, `${server.jwksUri}: answered a redirect (302), which is not followed`],
    ['over the size cap', () => { server.behaviour = 'huge' }, `${server.jwksUri}: response larger than 65536 bytes`],
    ['private key material', () => { server.published = [tampered(good, { d: 'AQAB' })] },
      `the key set has no usable signing key (key 0: kid "${good.kid}" carries private key material and is refused)`],
    ['wrong use', () => { server.published = [tampered(good, { use: 'enc' })] },
      `the key set has no usable signing key (key 0: kid "${good.kid}" is not a signing key)`],
    ['unsupported kty', () => { server.published = [tampered(good, { kty: 'oct' })] },
      `the key set has no usable signing key (key 0: kid "${good.kid}" has unsupported key type)`],
    ['short RSA', () => { server.published = [shortRsaKey('short')] },
      'the key set has no usable signing key (key 0: kid "short" is an RSA key shorter than 2048 bits)'],
    ['missing kid', () => { server.published = [tampered(good, { kid: undefined })] },
      'the key set has no usable signing key (key 0: no usable kid)']
  ]
  for (const [name, breakIt, reason] of faults) {
    breakIt()
    const warnings = logged(logs, REFRESH_FAILED).length
    await keySet.refresh()
    const status = keySet.status()
    t.equal(status.ready, true, `${name}: still ready`)
    t.equal(status.keys, 1)
    t.equal(status.stale, false)
    t.match(status.reason, reason, `${name}: the reason is reported`)
    t.notOk(keySet.get(good.kid) instanceof Promise, `${name}: the good key is still served at once`)
    const warning = logged(logs, REFRESH_FAILED).at(-1)
    t.equal(logged(logs, REFRESH_FAILED).length, warnings + 1, `${name}: a warning is logged`)
    t.equal(warning?.level, WARN)
    t.equal(warning?.servingLastGoodSet, true)
    t.equal(warning?.ageSeconds, 0)
    t.equal(warning?.err, undefined, 'an issuer problem is not logged as a bug')
    // Recover before the next fault, so each starts from a healthy set and no retry is pending.
    server.behaviour = 'ok'
    server.published = undefined
    await keySet.refresh()
    t.same(keySet.status(), { ready: true, keys: 1, ageSeconds: 0, stale: false }, `${name}: a good answer clears the reason`)
    t.equal(logged(logs, LOADED).at(-1)?.level, 30, `${name}: recovery is logged at info`)
  }
  t.same(retired, [], 'no failure retired a key')
})

test('outage: a refused connection keeps the last good set serving', async t => {
  const server = await KeyServer.start([makeKey('EC')])
  const good = server.keys[0]
  const { keySet } = keySetFor(t, server, { jwksUri: server.jwksUri })
  await keySet.start()
  await server.close()
  await keySet.refresh()
  t.equal(keySet.status().ready, true)
  t.equal(keySet.status().reason, `${server.jwksUri}: unreachable (ECONNREFUSED)`)
  t.notOk(keySet.get(good.kid) instanceof Promise)
})

test('a partly malformed set: the usable keys are taken and the others named in a warning', async t => {
  const good = makeKey('EC')
  const other = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet, logs } = keySetFor(t, server)
  server.published = [good, tampered(other, { d: 'AQAB' }), makeKey('EC', good.kid)]
  await keySet.start()
  t.same(keySet.status(), { ready: true, keys: 1, ageSeconds: 0, stale: false })
  const [warning] = logged(logs, 'some keys in the issuer key set were ignored')
  t.equal(warning.level, WARN)
  t.same(warning.skipped, [
    `key 1: kid "${other.kid}" carries private key material and is refused`,
    `key 2: duplicate kid "${good.kid}"`
  ])
  t.notOk(logs.raw.some(line => line.includes('"d"')), 'the private material is not logged')
})

test('an unknown kid while the issuer fails is 503 with Retry-After, not 401', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet } = keySetFor(t, server, { cooldownMs: 1500 })
  await keySet.start()
  server.behaviour = 'error'
  await keySet.refresh()

  const unknown = await rejectionOf(keySet.get(randomUUID()))
  t.equal(unknown.code, 'AUTH_KEYS_UNAVAILABLE')
  t.equal(unknown.statusCode, 503)
  t.equal(unknown.retryAfter, 2, 'until the next fetch may happen, rounded up')
  t.notOk(keySet.get(good.kid) instanceof Promise, 'a known kid is still served')
})

test('discovery and the key set share one deadline', async t => {
  // Each answer takes 250 ms: alone within the 400 ms timeout, together past it. A request waiting
  // on the first load must not wait for the timeout twice over.
  const server = await startServer(t)
  server.delayMs = 250
  const { keySet, logs } = keySetFor(t, server, { timeoutMs: 400 })
  const startedAt = performance.now()
  await keySet.start()
  const waited = performance.now() - startedAt
  t.equal(keySet.status().ready, false, 'the load failed')
  t.equal(logged(logs, LOAD_FAILED)[0]?.reason, `${server.jwksUri}: no response within 400 ms`, 'the load\'s deadline, not what was left of it')
  t.ok(waited < 600, `gave up after ${Math.round(waited)} ms, within the one 400 ms deadline (and some slack)`)
  t.equal(server.discoveryFetches, 1)

  server.delayMs = 100
  await keySet.refresh()
  t.equal(keySet.status().ready, true, 'both within the deadline together: loaded')
})

test('a known key never waits on a hung issuer; an unknown one waits at most the timeout', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet } = keySetFor(t, server, { timeoutMs: 300, cooldownMs: 50 })
  await keySet.start()
  server.behaviour = 'hang'
  await sleep(60) // past the cooldown: the unknown kid may cause a refetch

  const unknown = rejectionOf(keySet.get(randomUUID()))
  await waitFor('the refetch to reach the hung issuer', () => server.jwksFetches === 2)
  for (let index = 0; index < 10; index++) {
    t.notOk(keySet.get(good.kid) instanceof Promise, 'served synchronously while the fetch hangs')
  }
  const rejection = await unknown
  t.equal(rejection.code, 'AUTH_KEYS_UNAVAILABLE', 'after the timeout, 503: the kid may be one we could not load')
  t.match(keySet.status().reason, /no response within 300 ms/)
})

test('stale limit: past TTL the last good set serves, past TTL + stale limit it is dropped', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet, logs, retired } = keySetFor(t, server, { ttlMs: 300, staleLimitMs: 400, cooldownMs: 100 })
  await keySet.start()
  server.behaviour = 'error'

  await waitFor('the set to be past its TTL', () => keySet.status().stale)
  const stale = keySet.status()
  t.equal(stale.ready, true)
  t.equal(stale.keys, 1)
  t.equal(stale.reason, `${server.jwksUri}: answered HTTP 500`)
  t.notOk(keySet.get(good.kid) instanceof Promise, 'a stale set still serves')
  t.ok(logged(logs, REFRESH_FAILED).length > 0, 'the failing refresh was logged')

  await waitFor('the set to be dropped', () => !keySet.status().ready)
  t.same(keySet.status(), { ready: false, keys: 0, stale: false, reason: `${server.jwksUri}: answered HTTP 500` })
  t.same(retired, [[good.kid]], 'every key of the dropped set is retired')
  const [dropped] = logged(logs, DROPPED)
  t.equal(dropped.level, ERROR)
  t.equal(dropped.reason, `${server.jwksUri}: answered HTTP 500`)
  const rejection = await rejectionOf(keySet.get(good.kid))
  t.equal(rejection.code, 'AUTH_KEYS_UNAVAILABLE', 'a once-known key is now 503, never 401 and never accepted')
  t.equal(rejection.retryAfter, 1)
  await waitFor('a failure after the drop', () => logged(logs, LOAD_FAILED).length > 0)
  t.equal(logged(logs, LOAD_FAILED)[0].servingLastGoodSet, false, 'later failures say nothing is served')

  server.behaviour = 'ok'
  await waitFor('the set to load again on its own', () => keySet.status().ready)
  t.notOk(keySet.get(good.kid) instanceof Promise)
  t.equal(keySet.status().reason, undefined)
})

test('the dropped set says why even while its refresh is still under way', async t => {
  const server = await startServer(t)
  const { keySet } = keySetFor(t, server, { ttlMs: 200, staleLimitMs: 0, timeoutMs: 5000 })
  await keySet.start()
  server.behaviour = 'hang'
  await waitFor('the set to be dropped', () => !keySet.status().ready)
  t.equal(server.jwksFetches, 2, 'the refresh is still hanging')
  t.same(keySet.status(), {
    ready: false, keys: 0, stale: false, reason: 'the key set passed its stale limit before it could be refreshed'
  })
})

test('background refresh: the set is refetched before its TTL without any request', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  const { keySet } = keySetFor(t, server, { ttlMs: 100 })
  await keySet.start()
  await waitFor('four background refreshes', () => server.jwksFetches >= 5)
  t.equal(server.requests.filter(url => url === '/.well-known/openid-configuration').length, 1, 'discovery is not repeated')
  t.notOk(keySet.get(good.kid) instanceof Promise)
})

test('start-up failure: retried with backoff until the issuer answers', async t => {
  const good = makeKey('EC')
  const server = await startServer(t, [good])
  server.behaviour = 'error'
  const { keySet, logs } = keySetFor(t, server, { cooldownMs: 60_000 })
  await keySet.start()
  t.same(keySet.status(), { ready: false, keys: 0, stale: false, reason: `${server.jwksUri}: answered HTTP 500` })
  const [warning] = logged(logs, LOAD_FAILED)
  t.equal(warning.level, WARN)
  t.equal(warning.servingLastGoodSet, false)
  t.equal(warning.ageSeconds, undefined)

  const rejection = await rejectionOf(keySet.get(good.kid))
  t.equal(rejection.code, 'AUTH_KEYS_UNAVAILABLE')
  t.equal(rejection.retryAfter, 60)
  t.equal(server.jwksFetches, 1, 'the lookup did not add a fetch within the cooldown')

  await waitFor('a retry', () => server.jwksFetches === 2)
  server.behaviour = 'ok'
  await waitFor('the keys to load', () => keySet.status().ready)
  t.equal(server.jwksFetches, 3, 'retries back off: 0.5 s, then 1 s')
  t.notOk(keySet.get(good.kid) instanceof Promise)
})

test('retries are never further apart than the cooldown', async t => {
  const server = await startServer(t)
  server.behaviour = 'error'
  const { keySet } = keySetFor(t, server, { cooldownMs: 50 })
  await keySet.start()
  // Unbounded backoff would need 0.5 + 1 + 2 + 4 + 8 s for these; capped at the cooldown, 0.25 s.
  await waitFor('five retries', () => server.jwksFetches >= 6, 3000)
  t.pass('an outage is retried at least once per cooldown')
})

test('a bug in the retire callback is logged as an error, not blamed on the issuer, and retried', async t => {
  const leaving = makeKey('EC')
  const staying = makeKey('EC')
  const server = await startServer(t, [leaving, staying])
  const { keySet, logs } = keySetFor(t, server, {
    cooldownMs: 1000,
    onKeysRetired: () => { throw new Error('callback bug') }
  })
  await keySet.start()
  server.published = [staying]
  await keySet.refresh()

  const [failure] = logged(logs, REFRESH_FAILED)
  t.equal(failure.level, ERROR)
  t.equal(failure.reason, 'unexpected error while loading the key set')
  t.match(failure.err, { message: 'callback bug' })
  t.equal(keySet.status().keys, 1, 'the new set is in use all the same')
  t.equal((await rejectionOf(keySet.get(leaving.kid))).statusCode, 503, 'while in doubt, a missing kid is 503')
  await waitFor('the retry to clear the reason', () => keySet.status().reason === undefined)
  t.equal((await rejectionOf(keySet.get(leaving.kid))).code, 'AUTH_UNKNOWN_KEY')
})

test('close() stops every timer and the fetch under way', async t => {
  await t.test('no refresh after close', async t => {
    const server = await startServer(t)
    const { keySet } = keySetFor(t, server, { ttlMs: 50, staleLimitMs: 50 })
    await keySet.start()
    keySet.close()
    const fetches = server.jwksFetches
    await sleep(300)
    t.equal(server.jwksFetches, fetches, 'no background refresh')
    t.equal(keySet.status().ready, true, 'and no expiry')
    await keySet.refresh()
    t.equal(server.jwksFetches, fetches, 'an explicit refresh after close does nothing')
    t.equal((await rejectionOf(keySet.get(randomUUID()))).code, 'AUTH_UNKNOWN_KEY', 'nor does an unknown kid')
    t.equal(server.jwksFetches, fetches)
  })

  await t.test('no retry after close', async t => {
    const server = await startServer(t)
    server.behaviour = 'error'
    const { keySet } = keySetFor(t, server, { cooldownMs: 50 })
    await keySet.start()
    keySet.close()
    const fetches = server.jwksFetches
    await sleep(200)
    t.equal(server.jwksFetches, fetches)
  })

  await t.test('closing while a good answer is being taken in leaves no timer behind', async t => {
    const server = await startServer(t)
    let keySet: KeySet | undefined
    // pino writes synchronously: closing from the "loaded" log line lands between the fetch
    // completing and the timers being set, as a close() racing a fetch's last bytes would.
    const closer = new Writable({
      write (chunk: Buffer, _encoding, done) {
        if (chunk.toString().includes(LOADED)) keySet?.close()
        done()
      }
    })
    keySet = keySetFor(t, server, { ttlMs: 50, staleLimitMs: 0, log: pino({ level: 'debug' }, closer) }).keySet
    await keySet.start()
    t.equal(keySet.status().ready, true)
    await sleep(200)
    t.equal(server.jwksFetches, 1, 'no refresh timer was left')
    t.equal(keySet.status().ready, true, 'no expiry timer was left')
  })

  await t.test('a hung fetch is abandoned at once, silently', async t => {
    const server = await startServer(t)
    server.behaviour = 'hang'
    const { keySet, logs } = keySetFor(t, server, { timeoutMs: 30_000 })
    const started = Date.now()
    const starting = keySet.start()
    await waitFor('the fetch to reach the issuer', () => server.jwksFetches === 1)
    keySet.close()
    await starting
    t.ok(Date.now() - started < 10_000, 'well before the 30 s timeout')
    t.same(logged(logs, LOAD_FAILED), [], 'closing is not an issuer failure')
  })
})
