import { test } from 'tap'
import { authMetrics } from '../src/metrics/auth-metrics.js'
import { httpMetrics, UNMATCHED_ROUTE } from '../src/metrics/http-metrics.js'
import { buildApp, envFor } from './helpers/app.js'
import { KeyServer } from './helpers/key-server.js'
import { AggregatorRegistry, Registry } from 'prom-client'

/** The value of one sample line, e.g. `auth_rejections_total{code="AUTH_MISSING_TOKEN"}`. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(candidate => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

test('metrics are off by default: no /metrics, and no hook on any route', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys))
  t.teardown(async () => { await app.close(); await keys.close() })
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 404)
  const routes = app.printRoutes({ includeHooks: true, commonPrefix: false })
  t.notMatch(routes, /onResponse|onError/, 'nothing is added to the request path')
})

test('METRICS_ENABLED=true: /metrics is public, in Prometheus text format', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { METRICS_ENABLED: 'true' }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(response.body, /# TYPE http_request_duration_seconds histogram/)
  t.match(response.body, /# TYPE process_cpu_user_seconds_total counter/, 'with the process\'s own metrics')
  const routes = app.printRoutes({ includeHooks: true, commonPrefix: false })
  t.match(routes, /onResponse/)
})

test('requests by route pattern and status, rejections by code, the key set and the token cache', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { METRICS_ENABLED: 'true' }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const token = keys.sign({ sub: 'subject-that-must-not-appear', scope: 'other' })
  const bearer = { authorization: `Bearer ${token}` }
  await app.inject('/api/public')
  await app.inject('/api/private')
  await app.inject({ url: '/api/private', headers: bearer })
  await app.inject({ url: '/api/private', headers: bearer })
  await app.inject({ url: '/api/private-scoped', headers: bearer })
  await app.inject('/no/such/route/with-a-unique-path-123')
  await app.inject({ url: '/api/private', headers: { authorization: 'Bearer not.a.jwt' } })

  const text = (await app.inject('/metrics')).body
  const count = (route: string, status: number) =>
    sample(text, `http_request_duration_seconds_count{method="GET",route="${route}",status_code="${status}"}`)
  t.equal(count('/api/public', 200), 1)
  t.equal(count('/api/private', 401), 2)
  t.equal(count('/api/private', 200), 2)
  t.equal(count('/api/private-scoped', 403), 1)
  t.equal(count(UNMATCHED_ROUTE, 404), 1, 'an unmatched URL is counted under one label, never by its path')
  t.equal(sample(text, 'auth_rejections_total{code="AUTH_MISSING_TOKEN"}'), 1)
  t.equal(sample(text, 'auth_rejections_total{code="AUTH_INSUFFICIENT_SCOPE"}'), 1)
  t.equal(sample(text, 'auth_rejections_total{code="AUTH_TOKEN_MALFORMED"}'), 1)
  const issuer = `issuer="${keys.issuer}"`
  t.equal(sample(text, `auth_keyset_fetch_duration_seconds_count{${issuer},result="ok"}`), 1)
  t.equal(sample(text, `auth_keyset_keys{${issuer}}`), 1)
  t.equal(sample(text, `auth_keyset_stale{${issuer}}`), 0)
  t.equal(sample(text, `auth_keyset_age_seconds{${issuer}}`), 0)
  t.equal(sample(text, 'auth_token_cache_lookups_total{result="hit"}'), 1, 'the scoped call: the token was cached on its second use')
  t.equal(sample(text, 'auth_token_cache_lookups_total{result="miss"}'), 3)

  t.notOk(text.includes(token), 'no token in any label')
  t.notOk(text.includes('subject-that-must-not-appear'), 'no subject')
  t.notOk(text.includes('with-a-unique-path-123'), 'no raw URL')
  t.notOk(text.includes('not.a.jwt'))
})

test('a failing issuer shows in the fetch metrics and the key set gauges', async t => {
  const keys = await KeyServer.start()
  keys.behaviour = 'error'
  const app = await buildApp(envFor(keys, { METRICS_ENABLED: 'true', LOG_LEVEL: 'silent' }))
  t.teardown(async () => { await app.close(); await keys.close() })
  const text = (await app.inject('/metrics')).body
  const issuer = `issuer="${keys.issuer}"`
  t.equal(sample(text, `auth_keyset_fetch_duration_seconds_count{${issuer},result="error"}`), 1)
  t.equal(sample(text, `auth_keyset_keys{${issuer}}`), 0)
  t.equal(sample(text, `auth_keyset_age_seconds{${issuer}}`), -1, 'no age while no key set is loaded')
  const keysUnavailable = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${keys.sign()}` } })
  t.equal(keysUnavailable.statusCode, 503)
  t.equal(sample((await app.inject('/metrics')).body, 'auth_rejections_total{code="AUTH_KEYS_UNAVAILABLE"}'), 1)
})

test('other client errors are not counted as rejections', async t => {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { METRICS_ENABLED: 'true' }), undefined, async fastify => {
    fastify.post('/echo', { config: { auth: false } }, async request => request.body)
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const badJson = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(badJson.statusCode, 400)
  const text = (await app.inject('/metrics')).body
  t.notMatch(text, /auth_rejections_total\{/)
  t.equal(sample(text, 'http_request_duration_seconds_count{method="POST",route="/echo",status_code="400"}'), 1)
})

test('latency is observed in seconds', async t => {
  const registry = new Registry()
  httpMetrics(registry).observe('GET', '/x', 200, 1.5)
  const text = await registry.metrics()
  t.equal(sample(text, 'http_request_duration_seconds_sum{method="GET",route="/x",status_code="200"}'), 0.0015)
  t.equal(sample(text, 'http_request_duration_seconds_bucket{le="0.0025",method="GET",route="/x",status_code="200"}'), 1)
  t.equal(sample(text, 'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/x",status_code="200"}'), 0)
})

test('a stale key set shows as such', async t => {
  const registry = new Registry()
  authMetrics(registry, {
    issuerStatus: () => [{ issuer: 'https://tenant.example/', ready: true, keys: 2, stale: true, ageSeconds: 700, reason: 'the issuer answered 500' }],
    tokenCacheStats: () => ({ hits: 5, misses: 1 })
  })
  const text = await registry.metrics()
  t.equal(sample(text, 'auth_keyset_stale{issuer="https://tenant.example/"}'), 1)
  t.equal(sample(text, 'auth_keyset_age_seconds{issuer="https://tenant.example/"}'), 700)
  t.equal(sample(text, 'auth_keyset_keys{issuer="https://tenant.example/"}'), 2)
  t.equal(sample(text, 'auth_token_cache_lookups_total{result="hit"}'), 5)
  t.notMatch(text, /500/, 'the failure reason is no label')
})

test('in cluster mode the key set gauges are combined, not summed; counters are summed', async t => {
  const worker = async (keys: number, ageSeconds: number | undefined, stale: boolean, hits: number) => {
    const registry = new Registry()
    authMetrics(registry, {
      issuerStatus: () => [{ issuer: 'https://tenant.example/', ready: keys > 0, keys, stale, ageSeconds }],
      tokenCacheStats: () => ({ hits, misses: 0 })
    })
    return await registry.getMetricsAsJSON()
  }
  const combine = async (...workers: Array<Awaited<ReturnType<typeof worker>>>) => await AggregatorRegistry.aggregate(workers).metrics()
  const issuer = 'issuer="https://tenant.example/"'

  const same = await combine(await worker(1, 30, false, 2), await worker(1, 10, false, 3))
  t.equal(sample(same, `auth_keyset_keys{${issuer}}`), 1, 'the same key set in two workers is one key')
  t.equal(sample(same, `auth_keyset_age_seconds{${issuer}}`), 30, 'the oldest')
  t.equal(sample(same, `auth_keyset_stale{${issuer}}`), 0)
  t.equal(sample(same, 'auth_token_cache_lookups_total{result="hit"}'), 5, 'each worker\'s own hits, added')

  const oneFailing = await combine(await worker(2, 700, true, 0), await worker(0, undefined, false, 0))
  t.equal(sample(oneFailing, `auth_keyset_keys{${issuer}}`), 0, 'a worker that cannot verify shows')
  t.equal(sample(oneFailing, `auth_keyset_stale{${issuer}}`), 1, 'a worker serving a stale key set shows')
  t.equal(sample(oneFailing, `auth_keyset_age_seconds{${issuer}}`), 700)
})
