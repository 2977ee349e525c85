import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { ConfigError, deriveAuthSettings, describeConfigError, isLoopbackHost, type Env } from '../src/config.js'
import { buildApp, envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'

const base: Env = {
  PORT: 3010,
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  LOG_REQUESTS: false,
  LOG_REJECTION_INTERVAL: 10,
  METRICS_ENABLED: false,
  ALGORITHMS: 'RS256',
  CLOCK_TOLERANCE: 5,
  LOCAL_ISSUER_PORT: 3011,
  JWKS_TIMEOUT: 3000,
  JWKS_MAX_BYTES: 1048576,
  JWKS_CACHE_TTL: 600,
  JWKS_COOLDOWN: 30,
  JWKS_STALE_LIMIT: 3600,
  TOKEN_CACHE_SIZE: 10000,
  STRICT_RFC9068: false,
  READY_WHEN: 'all',
  DPOP: 'allowed',
  DPOP_ALGORITHMS: 'ES256,EdDSA',
  DPOP_MAX_AGE: 300,
  DPOP_MAX_FUTURE: 30,
  DPOP_NONCE: false,
  REPLAY_STORE_CAPACITY: 500000,
  CLIENT_CERT_HEADER: false
}

const line = (env: Partial<Env>) => {
  try {
    deriveAuthSettings({ ...base, ...env })
  } catch (error) {
    return describeConfigError(error)
  }
  return 'no error'
}

test('a real tenant', async t => {
  const settings = deriveAuthSettings({ ...base, AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUDIENCE: 'https://api, https://api2 ,' })
  t.same(settings.issuers, [{ issuer: 'https://tenant.eu.auth0.com/', audiences: ['https://api', 'https://api2'], algorithms: ['RS256'], jwksUri: undefined, secret: undefined }])
  t.equal(settings.localIssuer, false)
  t.same(settings.keySet, { timeoutMs: 3000, maxBytes: 1048576, ttlMs: 600000, cooldownMs: 30000, staleLimitMs: 3600000 })
  const same = deriveAuthSettings({ ...base, AUTH0_DOMAIN: 'tenant.auth0.com', ISSUER_BASE_URL: 'https://tenant.auth0.com/', AUDIENCE: 'a', JWKS_URI: 'https://keys.example/jwks', ALGORITHMS: 'RS256, ES256,RS256' })
  t.same(same.issuers, [{ issuer: 'https://tenant.auth0.com/', audiences: ['a'], algorithms: ['RS256', 'ES256'], jwksUri: 'https://keys.example/jwks', secret: undefined }])
})

test('local issuer mode when no issuer is configured', async t => {
  const settings = deriveAuthSettings({ ...base, LOCAL_ISSUER_PORT: 4011 })
  t.same(settings.issuers.map(({ issuer, audiences }) => ({ issuer, audiences })), [{ issuer: 'http://localhost:4011/', audiences: ['https://quickstarts/api'] }])
  t.equal(settings.localIssuer, true)
})

test('every configuration mistake is one line naming the variable', async t => {
  t.equal(line({ ISSUER_BASE_URL: 'https://tenant.auth0.com/' }),
    'Configuration error: AUDIENCE is required with ISSUER_BASE_URL or AUTH0_DOMAIN: set it to your API identifier')
  t.equal(line({ ISSUER_BASE_URL: 'not a url', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL is not a valid URL: "not a url"')
  t.equal(line({ ISSUER_BASE_URL: 'ftp://tenant/', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL must be an https URL, got "ftp:"')
  t.equal(line({ ISSUER_BASE_URL: 'http://tenant.auth0.com/', AUDIENCE: 'a' }),
    'Configuration error: ISSUER_BASE_URL must use https (plain http is only allowed to localhost): "http://tenant.auth0.com/"')
  t.equal(line({ ISSUER_BASE_URL: 'https://u:p@tenant/', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL must not contain credentials')
  // Credentials are refused before any check that quotes the value, and never quoted themselves.
  t.equal(line({ ISSUER_BASE_URL: 'http://user:s3cret@example.com/', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL must not contain credentials')
  t.equal(line({ JWKS_URI: 'http://user:s3cret@keys.example/jwks', ISSUER_BASE_URL: 'https://tenant/', AUDIENCE: 'a' }), 'Configuration error: JWKS_URI must not contain credentials')
  t.equal(line({ ISSUER_BASE_URL: 'https://user:s3 cret@tenant:x/', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL is not a valid URL: "https://tenant:x/"')
  t.equal(line({ ISSUER_BASE_URL: 'https://tenant/?x=1', AUDIENCE: 'a' }), 'Configuration error: ISSUER_BASE_URL must not contain a query or a fragment')
  t.equal(line({ JWKS_URI: 'http://keys.example/jwks', ISSUER_BASE_URL: 'https://tenant/', AUDIENCE: 'a' }),
    'Configuration error: JWKS_URI must use https (plain http is only allowed to localhost): "http://keys.example/jwks"')
  t.equal(line({ AUTH0_DOMAIN: 'https://tenant.auth0.com', AUDIENCE: 'a' }),
    'Configuration error: AUTH0_DOMAIN must be a host name such as "tenant.auth0.com" (no scheme, no path), got "https://tenant.auth0.com"')
  t.equal(line({ AUTH0_DOMAIN: 'a.auth0.com', ISSUER_BASE_URL: 'https://b.auth0.com/', AUDIENCE: 'a' }),
    'Configuration error: ISSUER_BASE_URL ("https://b.auth0.com/") and AUTH0_DOMAIN ("https://a.auth0.com/") disagree; set only one')
  t.equal(line({ ALGORITHMS: 'HS256' }),
    'Configuration error: SECRET is required when ALGORITHMS names HS256, HS384 or HS512: set it to the API\'s signing secret')
  t.equal(line({ ALGORITHMS: 'RS256,HS256', SECRET: 'x'.repeat(32) }),
    'Configuration error: ALGORITHMS mixes HS256 with public-key algorithms: an issuer uses a shared secret or a key set, never both (a public key must never be used as an HMAC secret)')
  t.equal(line({ ALGORITHMS: 'HS256', SECRET: 'x'.repeat(31) }), 'Configuration error: SECRET must be at least 32 bytes long')
  t.equal(line({ SECRET: 'x'.repeat(32) }),
    'Configuration error: SECRET is set, but no issuer uses HS256, HS384 or HS512 (set ALGORITHMS too, or remove SECRET)')
  t.equal(line({ ALGORITHMS: 'HS256', SECRET: 'x'.repeat(32), ISSUER_BASE_URL: 'https://tenant/', AUDIENCE: 'a', JWKS_URI: 'https://tenant/jwks' }),
    'Configuration error: JWKS_URI is set for https://tenant/, which uses HS256: an HMAC issuer has a secret, never a key set')
  t.equal(line({ ISSUER_BASE_URL: 'https://a/,https://b/,https://a/', AUDIENCE: 'x' }), 'Configuration error: ISSUER_BASE_URL names "https://a/" twice')
  t.equal(line({ ISSUER_BASE_URL: ' , ', AUDIENCE: 'x' }), 'Configuration error: ISSUER_BASE_URL must name at least one issuer URL')
  t.equal(line({ ISSUER_BASE_URL: 'https://a/,http://b.example/', AUDIENCE: 'x' }),
    'Configuration error: ISSUER_BASE_URL must use https (plain http is only allowed to localhost): "http://b.example/"')
  t.equal(line({ ISSUER_BASE_URL: 'https://a/,https://b/', AUDIENCE: 'x', JWKS_URI: 'https://a/jwks' }),
    'Configuration error: JWKS_URI names one key set, but ISSUER_BASE_URL names several issuers: give each its jwksUri in ISSUERS_FILE')
  t.equal(line({ AUTH0_DOMAIN: 'a.auth0.com', ISSUER_BASE_URL: 'https://a.auth0.com/,https://login.example.com/', AUDIENCE: 'x' }),
    'Configuration error: ISSUER_BASE_URL ("https://a.auth0.com/,https://login.example.com/") and AUTH0_DOMAIN ("https://a.auth0.com/") disagree; set only one')
  t.match(line({ ALGORITHMS: 'RS256,XY999' }), /^Configuration error: ALGORITHMS has an unknown algorithm "XY999"; allowed: RS256, /)
  t.equal(line({ ALGORITHMS: ' , ' }), 'Configuration error: ALGORITHMS must name at least one algorithm, e.g. RS256')
  t.equal(line({ ISSUER_BASE_URL: 'https://tenant/', AUDIENCE: ',' }), 'Configuration error: AUDIENCE must name at least one audience (your API identifier), got ","')
  t.equal(line({ AUDIENCE: ' , ' }), 'Configuration error: AUDIENCE must name at least one audience (your API identifier), got ","', 'in local issuer mode too')
  for (const NODE_ENV of ['production', 'Production', ' production ', 'PRODUCTION']) {
    t.equal(line({ NODE_ENV }),
      'Configuration error: ISSUER_BASE_URL is required when NODE_ENV=production (the local development issuer never runs in production); set ISSUER_BASE_URL or AUTH0_DOMAIN', JSON.stringify(NODE_ENV))
  }
  t.equal(line({ ISSUER_BASE_URL: 'http://127.0.0.1:9999/', AUDIENCE: 'a' }), 'no error', 'plain http to loopback is fine')
})

test('loopback hosts', async t => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1']) t.ok(isLoopbackHost(host), host)
  for (const host of ['10.0.0.1', 'example.com', '::2', 'localhost.evil.com']) t.notOk(isLoopbackHost(host), host)
})

test('schema violations name the variable', async t => {
  const error = await buildApp({ PORT: 'abc' }).then(() => undefined, (error: unknown) => error)
  t.equal(describeConfigError(error), 'Configuration error: PORT must be integer')
  t.equal(describeConfigError(new Error('other')), undefined)
  t.equal(describeConfigError({ errors: [{ params: { missingProperty: 'X' } }] }), 'Configuration error: X is invalid')
  t.equal(describeConfigError({ errors: [{}] }), 'Configuration error: environment is invalid')
  t.equal(describeConfigError(null), undefined)
  t.ok(new ConfigError('A', 'b') instanceof Error)
})

test('LOG_REJECTION_INTERVAL: whole seconds from 0 to 3600, 10 by default', async t => {
  const keys = await KeyServer.start()
  t.teardown(() => keys.close())
  for (const [value, message] of [['-1', 'must be >= 0'], ['3601', 'must be <= 3600'], ['0.5', 'must be integer']]) {
    const error = await buildApp(envFor(keys, { LOG_REJECTION_INTERVAL: value })).then(() => undefined, (error: unknown) => error)
    t.equal(describeConfigError(error), `Configuration error: LOG_REJECTION_INTERVAL ${message}`)
  }
  for (const [env, expected] of [[{}, 10], [{ LOG_REJECTION_INTERVAL: '0' }, 0]] as const) {
    const app = await buildApp(envFor(keys, env))
    t.equal(app.config.LOG_REJECTION_INTERVAL, expected)
    await app.close()
  }
})

test('several issuers share AUDIENCE and ALGORITHMS; ISSUERS_FILE sets what differs', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'issuers-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = (content: unknown): string => {
    const path = join(dir, `${Math.random()}.json`)
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
    return path
  }
  const shared = deriveAuthSettings({ ...base, ISSUER_BASE_URL: 'https://tenant.auth0.com/, https://login.example.com/', AUDIENCE: 'https://api' })
  t.same(shared.issuers, [
    { issuer: 'https://tenant.auth0.com/', audiences: ['https://api'], algorithms: ['RS256'], jwksUri: undefined, secret: undefined },
    { issuer: 'https://login.example.com/', audiences: ['https://api'], algorithms: ['RS256'], jwksUri: undefined, secret: undefined }
  ], 'an Auth0 custom domain: the same tenant under two names, each its own iss')

  const own = deriveAuthSettings({
    ...base,
    ISSUER_BASE_URL: 'https://a.example/,https://b.example/,https://c.example/',
    AUDIENCE: 'https://api',
    ALGORITHMS: 'HS256',
    SECRET: 's'.repeat(32),
    ISSUERS_FILE: file({
      'https://a.example/': { audience: ['https://api', 'https://other'], algorithms: 'ES256, RS256', jwksUri: 'https://keys.a.example/jwks.json' },
      'https://b.example/': { audience: 'https://b-api' }
    })
  })
  t.same(own.issuers, [
    { issuer: 'https://a.example/', audiences: ['https://api', 'https://other'], algorithms: ['ES256', 'RS256'], jwksUri: 'https://keys.a.example/jwks.json', secret: undefined },
    { issuer: 'https://b.example/', audiences: ['https://b-api'], algorithms: ['HS256'], jwksUri: undefined, secret: 's'.repeat(32) },
    { issuer: 'https://c.example/', audiences: ['https://api'], algorithms: ['HS256'], jwksUri: undefined, secret: 's'.repeat(32) }
  ])
  const defaults = deriveAuthSettings({ ...base, ISSUER_BASE_URL: 'https://a.example/', AUDIENCE: 'x', ISSUERS_FILE: '  ' })
  t.same(defaults.issuers.map(issuer => issuer.audiences), [['x']], 'an empty ISSUERS_FILE is no file')
  const strict = deriveAuthSettings({ ...base, MAX_TOKEN_AGE: 300, STRICT_RFC9068: true, READY_WHEN: 'any' })
  t.same([strict.maxTokenAgeSeconds, strict.strictRfc9068, strict.readyWhen], [300, true, 'any'])

  const issuers = { ISSUER_BASE_URL: 'https://a.example/', AUDIENCE: 'x' }
  t.match(line({ ...issuers, ISSUERS_FILE: join(dir, 'missing.json') }), /^Configuration error: ISSUERS_FILE cannot be read as JSON \(.*missing.json\): ENOENT/)
  t.match(line({ ...issuers, ISSUERS_FILE: file('{ not json') }), /^Configuration error: ISSUERS_FILE cannot be read as JSON/)
  t.equal(line({ ...issuers, ISSUERS_FILE: file([]) }),
    'Configuration error: ISSUERS_FILE must hold a JSON object keyed by issuer, e.g. {"https://tenant.auth0.com/": {"audience": "https://api"}}')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://evil.example/': {} }) }),
    'Configuration error: ISSUERS_FILE names "https://evil.example/", which is not in ISSUER_BASE_URL (the allow-list lives there)')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': 'x' }) }), 'Configuration error: ISSUERS_FILE "https://a.example/" must map to an object')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { secret: 'x' } }) }),
    'Configuration error: ISSUERS_FILE "https://a.example/" has unknown setting "secret" (audience, algorithms, jwksUri)')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { jwksUri: ['https://a'] } }) }),
    'Configuration error: ISSUERS_FILE "https://a.example/".jwksUri must be a string')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { audience: [1] } }) }),
    'Configuration error: ISSUERS_FILE "https://a.example/".audience must be a string or an array of strings')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { audience: [' '] } }) }),
    'Configuration error: ISSUERS_FILE "https://a.example/".audience must name at least one audience (your API identifier)')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { algorithms: ['XY1'] } }) }),
    'Configuration error: ISSUERS_FILE has an unknown algorithm "XY1"; allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512')
  t.equal(line({ ...issuers, ISSUERS_FILE: file({ 'https://a.example/': { jwksUri: 'http://keys.example/' } }) }),
    'Configuration error: ISSUERS_FILE must use https (plain http is only allowed to localhost): "http://keys.example/"')
  t.equal(line({ ...issuers, SECRET: 'x'.repeat(32), ISSUERS_FILE: file({ 'https://a.example/': { algorithms: 'HS512', jwksUri: 'https://keys.example/' } }) }),
    'Configuration error: ISSUERS_FILE is set for https://a.example/, which uses HS512: an HMAC issuer has a secret, never a key set')
  t.equal(line({ ISSUER_BASE_URL: 'https://a.example/,https://b.example/', ISSUERS_FILE: file({ 'https://a.example/': { audience: 'y' } }) }),
    'Configuration error: AUDIENCE is required with ISSUER_BASE_URL or AUTH0_DOMAIN: set it to your API identifier', 'b has no audience of its own')
})

test('DPoP, replay store and client certificate settings', async t => {
  const settings = deriveAuthSettings({ ...base, DPOP_ALGORITHMS: 'ES256, EdDSA,ES256' })
  t.same(settings.dpop, { mode: 'allowed', algorithms: ['ES256', 'EdDSA'], maxAgeSeconds: 300, maxFutureSeconds: 30, publicUrl: 'http://localhost:3010', nonceSecret: undefined })
  t.same(settings.replayStore, { redisUrl: undefined, capacity: 500000 })
  t.equal(settings.clientCertificateHeader, false)
  t.equal(deriveAuthSettings({ ...base, PUBLIC_URL: 'https://api.example.com/v1/' }).dpop.publicUrl, 'https://api.example.com/v1', 'a path prefix kept, without the trailing slash')
  t.equal(deriveAuthSettings({ ...base, REDIS_URL: ' redis://cache:6379 ' }).replayStore.redisUrl, 'redis://cache:6379')
  t.equal(deriveAuthSettings({ ...base, DPOP_NONCE: true }).dpop.nonceSecret?.length, 43, 'a random secret per process')
  t.equal(deriveAuthSettings({ ...base, DPOP_NONCE: true, DPOP_NONCE_SECRET: 's'.repeat(32) }).dpop.nonceSecret, 's'.repeat(32))

  t.equal(line({ DPOP_ALGORITHMS: ' , ' }), 'Configuration error: DPOP_ALGORITHMS must name at least one algorithm, e.g. ES256')
  t.equal(line({ DPOP_ALGORITHMS: 'ES256,HS256' }), 'Configuration error: DPOP_ALGORITHMS has "HS256", which is not a public-key algorithm; allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA')
  t.equal(line({ PUBLIC_URL: 'http://api.example.com' }), 'Configuration error: PUBLIC_URL must use https (plain http is only allowed to localhost): "http://api.example.com"')
  t.equal(line({ PUBLIC_URL: 'https://api.example.com/?q' }), 'Configuration error: PUBLIC_URL must not contain a query or a fragment')
  t.equal(line({ DPOP_NONCE_SECRET: 's'.repeat(32) }), 'Configuration error: DPOP_NONCE_SECRET is set, but DPOP_NONCE is off (set DPOP_NONCE=true, or remove it)')
  t.equal(line({ DPOP_NONCE: true, DPOP_NONCE_SECRET: 'short' }), 'Configuration error: DPOP_NONCE_SECRET must be at least 32 bytes long')
  t.equal(line({ REDIS_URL: 'cache:6379' }), 'Configuration error: REDIS_URL must start with redis:// or rediss://')
})

test('in production, DPoP needs PUBLIC_URL, and server nonces a shared secret', async t => {
  const production = { NODE_ENV: 'production', ISSUER_BASE_URL: 'https://tenant.auth0.com/', AUDIENCE: 'https://api' }
  t.equal(line(production), 'Configuration error: PUBLIC_URL is required when NODE_ENV=production and DPOP is not off: set it to the URL callers use, e.g. https://api.example.com (DPoP proofs name it)')
  t.equal(line({ ...production, DPOP: 'off' }), 'no error', 'bearer only: no URL to name')
  t.equal(line({ ...production, PUBLIC_URL: 'https://api.example.com' }), 'no error')
  t.equal(line({ ...production, PUBLIC_URL: 'https://api.example.com', DPOP_NONCE: true }),
    'Configuration error: DPOP_NONCE_SECRET is required with DPOP_NONCE when NODE_ENV=production: give every replica the same secret of at least 32 bytes')
  t.equal(line({ DPOP_NONCE_SECRET: '' }), 'no error', 'an empty DPOP_NONCE_SECRET is unset')
  t.equal(line({ REDIS_URL: 'redis://:100%@cache:6379' }), 'Configuration error: REDIS_URL has a user name or password with a "%" that is not percent-encoding (write % as %25)')
  t.equal(line({ REDIS_URL: 'redis://:100%25@cache:6379' }), 'no error')
})
