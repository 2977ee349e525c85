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
  TOKEN_CACHE_SIZE: 10000
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
  t.equal(settings.issuer, 'https://tenant.eu.auth0.com/')
  t.same(settings.audiences, ['https://api', 'https://api2'])
  t.equal(settings.localIssuer, false)
  t.equal(settings.jwksUri, undefined)
  t.same(settings.keySet, { timeoutMs: 3000, maxBytes: 1048576, ttlMs: 600000, cooldownMs: 30000, staleLimitMs: 3600000 })
  const same = deriveAuthSettings({ ...base, AUTH0_DOMAIN: 'tenant.auth0.com', ISSUER_BASE_URL: 'https://tenant.auth0.com/', AUDIENCE: 'a', JWKS_URI: 'https://keys.example/jwks', ALGORITHMS: 'RS256, ES256,RS256' })
  t.equal(same.issuer, 'https://tenant.auth0.com/')
  t.equal(same.jwksUri, 'https://keys.example/jwks')
  t.same(same.algorithms, ['RS256', 'ES256'])
})

test('local issuer mode when no issuer is configured', async t => {
  const settings = deriveAuthSettings({ ...base, LOCAL_ISSUER_PORT: 4011 })
  t.equal(settings.issuer, 'http://localhost:4011/')
  t.same(settings.audiences, ['https://quickstarts/api'])
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
    'Configuration error: ALGORITHMS must not include HS256: shared-secret algorithms cannot be verified with a public key set')
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
