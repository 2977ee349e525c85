// Starting the issuer: options and environment, loopback only, the production refusal, both
// loopback addresses, and what it logs (the development warning, never a secret).
import { createHmac } from 'node:crypto'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createVerifier } from 'fast-jwt'
import t from 'tap'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PRODUCTION_REFUSAL, resolveSettings, type LoopbackAddress } from '../../src/issuer/config.js'
import { rotateSigningKey } from '../../src/issuer/keys.js'
import { LoopbackTwin, QueryFreeLogController, buildLocalIssuer, createIssuerApp, startLocalIssuer } from '../../src/issuer/server.js'
import { AUDIENCE, SECRETS, captureLogs, clientCredentials, passwordGrant, postToken, startTestIssuer, testDirs } from './helpers.js'

function listen (host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((_req, res) => res.end('someone else')).once('error', reject)
    server.listen({ host, port }, () => resolve(server))
  })
}

t.test('refuses to run in production, with one line saying what to do', async t => {
  t.equal(PRODUCTION_REFUSAL.includes('\n'), false)
  t.match(PRODUCTION_REFUSAL, /set ISSUER_BASE_URL/)
  for (const NODE_ENV of ['production', 'Production', ' production']) {
    await t.rejects(startLocalIssuer({ port: 0, logger: false, env: { NODE_ENV } }), { message: PRODUCTION_REFUSAL }, JSON.stringify(NODE_ENV))
  }
  await t.rejects(buildLocalIssuer({ issuer: 'http://localhost:1/', logger: false, env: { NODE_ENV: 'production' } }), { message: PRODUCTION_REFUSAL })
})

t.test('listens on loopback only', async t => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '127.0.0.2', 'example.com', 'constructor']) {
    await t.rejects(startLocalIssuer({ host, port: 0, logger: false, env: {} }), {
      message: `Refusing to listen on "${host}": the local issuer listens on loopback only (127.0.0.1, ::1 or localhost)`
    }, host)
  }
})

t.test('both loopback addresses serve the issuer, whichever is asked for', async t => {
  for (const host of ['::1', 'localhost', '127.0.0.1']) {
    const { issuer } = await startTestIssuer(t, { host })
    const port = new URL(issuer).port
    for (const address of ['127.0.0.1', '[::1]', 'localhost']) {
      const response = await fetch(`http://${address}:${port}/.well-known/openid-configuration`)
      t.equal((await response.json() as { issuer: string }).issuer, issuer, `${host}: reached through ${address}`)
    }
  }
})

/** A request to 127.0.0.1:port that says `host` in its Host header. */
async function requestAs (port: number, path: string, host: string, form?: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const headers = { host, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) }
    const request = httpRequest({ host: '127.0.0.1', port, path, method: form === undefined ? 'GET' : 'POST', headers }, response => {
      let body = ''
      response.on('data', chunk => { body += String(chunk) })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, body }) })
    })
    request.on('error', reject)
    request.end(form)
  })
}

t.test('answers only requests addressed to a loopback name, against DNS rebinding', async t => {
  // A web page whose own name resolves to 127.0.0.1 reaches the issuer with that name as Host,
  // and the development credentials are public: it must get nothing.
  const { issuer } = await startTestIssuer(t)
  const port = Number(new URL(issuer).port)
  const discovery = '/.well-known/openid-configuration'
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost']) {
    t.equal((await requestAs(port, discovery, host)).status, 200, host)
  }
  for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
    const refused = await requestAs(port, discovery, host)
    t.equal(refused.status, 400, host)
    t.same(JSON.parse(refused.body), {
      error: 'invalid_request', error_description: 'the local issuer answers only requests addressed to localhost, 127.0.0.1 or [::1]'
    })
  }
  const form = new URLSearchParams(clientCredentials('m2m-reader', SECRETS.reader)).toString()
  t.equal((await requestAs(port, '/oauth/token', `localhost:${port}`, form)).status, 200, 'a token for localhost')
  t.equal((await requestAs(port, '/oauth/token', `evil.example:${port}`, form)).status, 400, 'none for another name')
})

t.test('fails to start rather than share localhost:<port> with another server', async t => {
  const close = (server: Server): Promise<void> => new Promise(resolve => { server.close(() => resolve()) })
  const onIpv6 = await listen('::1', 0)
  const { port } = onIpv6.address() as AddressInfo
  await t.rejects(startTestIssuer(t, { port }), {
    message: `Cannot also listen on [::1]:${port} (EADDRINUSE): another server there would receive requests for http://localhost:${port}/. Stop it or pick another LOCAL_ISSUER_PORT.`
  })
  await t.rejects(startTestIssuer(t, { port, host: '::1' }), { code: 'EADDRINUSE' }, 'the primary address taken')
  await close(onIpv6)

  const onIpv4 = await listen('127.0.0.1', port)
  t.pass('the half-started issuer released 127.0.0.1')
  await t.rejects(startTestIssuer(t, { port, host: '::1' }), { message: new RegExp(`^Cannot also listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`) })
  await close(onIpv4)
})

t.test('a twin address this machine does not have is skipped', async t => {
  const twin = new LoopbackTwin()
  twin.serverFactory(() => {}, {})
  t.equal(await twin.listen('192.0.2.1' as LoopbackAddress, 0), false)
  await twin.close()
})

t.test('LOCAL_ISSUER_PORT=0 through the environment', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const started = await startLocalIssuer({ logger: false, env: { LOCAL_ISSUER_PORT: '0', LOCAL_ISSUER_CONFIG: configPath, LOCAL_ISSUER_KEY_DIR: keyDir } })
  t.teardown(() => started.close())
  t.not(new URL(started.issuer).port, '0')
})

t.test('buildLocalIssuer: ready for inject, identified by the given issuer, with its own logger', async t => {
  const { configPath, keyDir } = await testDirs(t)
  await rotateSigningKey(keyDir) // an existing key, so the default logger has nothing to say
  const app = await buildLocalIssuer({ issuer: 'http://localhost:9999/', configPath, keyDir, env: {} })
  t.teardown(() => app.close())
  const response = await app.inject('/.well-known/openid-configuration')
  t.match(response.json(), { issuer: 'http://localhost:9999/', token_endpoint: 'http://localhost:9999/oauth/token' })
})

t.test('an app that is not listening has no issuer identifier to put in tokens', async t => {
  const { configPath, keyDir } = await testDirs(t)
  const { app } = await createIssuerApp(resolveSettings({ configPath, keyDir, env: {} }), false)
  t.teardown(() => app.close())
  const response = await app.inject('/.well-known/openid-configuration')
  t.equal(response.statusCode, 500)
  t.same(response.json(), { error: 'server_error', error_description: 'the local issuer failed; see its log' })
})

t.test('logs: the development warning, and never a secret, password or token', async t => {
  const logs = captureLogs()
  const { issuer } = await startTestIssuer(t, { logger: logs.logger })
  t.match(logs.lines.find(line => line.level === 40), { issuer, alg: 'RS256', msg: /^DEVELOPMENT authorization server at http:\/\/localhost:\d+\/: .*never use it in production/ })

  const tokens = [
    await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader)),
    await postToken(issuer, passwordGrant(), { form: true }),
    await postToken(issuer, clientCredentials('m2m-basic', 'wrong-basic-secret'))
  ].map(call => call.body.access_token).filter(token => token !== undefined) as string[]
  t.equal(tokens.length, 2)
  const query = await fetch(new URL(`oauth/token?client_secret=${SECRETS.basic}`, issuer), { method: 'POST' })
  t.equal(query.status, 400)

  const text = logs.text()
  for (const secret of [SECRETS.reader, SECRETS.app, SECRETS.password, SECRETS.basic, 'wrong-basic-secret', ...tokens]) {
    t.notOk(text.includes(secret), `never logged: ${secret.slice(0, 12)}...`)
  }
  t.match(logs.lines.filter(line => line.msg === 'issued an access token'), [
    { client: 'm2m-reader', sub: 'm2m-reader@clients', aud: 'https://quickstarts/api', scope: 'read:messages', alg: 'RS256', kid: String },
    { client: 'local-app', sub: 'auth0|test-user', scope: 'read:messages' }
  ])
  t.match(logs.lines.filter(line => line.msg === 'request completed').at(-1), { method: 'POST', path: '/oauth/token', statusCode: 400, responseTime: Number })
  t.match(logs.lines.find(line => line.error === 'invalid_client'), { level: 30, msg: 'client authentication failed: unknown client or wrong secret' })
})

t.test('the request log records a response that failed midway', async t => {
  const logged: unknown[] = []
  const reply = { statusCode: 200, elapsedTime: 1.4, log: { info: (fields: unknown) => { logged.push(fields) } } }
  const request = { method: 'GET', url: '/.well-known/jwks.json?x=1' }
  const failure = new Error('socket hang up')
  new QueryFreeLogController().requestCompleted(failure, request as unknown as FastifyRequest, reply as unknown as FastifyReply)
  t.same(logged, [{ method: 'GET', path: '/.well-known/jwks.json', statusCode: 200, responseTime: 1, err: failure }])
})

t.test('HMAC signing: HS256/384/512 with the shared secret, no kid; the RSA key stays published, unused', async t => {
  const secret = 'the-api-signing-secret-of-32-bytes+'
  for (const [algorithm, hash] of [['HS256', 'sha256'], ['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
    const logs = captureLogs()
    const { issuer } = await startTestIssuer(t, { logger: logs.logger, signing: { algorithm, secret } })
    t.match(logs.lines.find(line => line.level === 40), { issuer, alg: algorithm, msg: /^DEVELOPMENT authorization server/ })
    const discovery = await (await fetch(new URL('.well-known/openid-configuration', issuer))).json() as Record<string, unknown>
    t.same(discovery.id_token_signing_alg_values_supported, [algorithm], `${algorithm}: discovery names it`)
    const { keys } = await (await fetch(new URL('.well-known/jwks.json', issuer))).json() as { keys: Array<Record<string, unknown>> }
    t.match(keys, [{ kty: 'RSA', alg: 'RS256' }], `${algorithm}: the JWKS still serves the RSA key`)

    const { status, body } = await postToken(issuer, clientCredentials('m2m-reader', SECRETS.reader))
    t.equal(status, 200)
    const token = body.access_token as string
    const [header, payload, signature] = token.split('.') as [string, string, string]
    t.same(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: algorithm, typ: 'JWT' }, `${algorithm}: header without kid`)
    t.equal(signature, createHmac(hash, Buffer.from(secret, 'utf8')).update(`${header}.${payload}`).digest('base64url'), `${algorithm}: HMAC of the secret's UTF-8 bytes`)
    const claims = createVerifier({ key: secret, algorithms: [algorithm], allowedIss: issuer, allowedAud: AUDIENCE, requiredClaims: ['exp', 'sub'] })(token) as Record<string, unknown>
    t.match(claims, { sub: 'm2m-reader@clients', scope: 'read:messages', permissions: ['read:messages'] }, `${algorithm}: another library verifies it`)
    t.throws(() => createVerifier({ key: `${secret}x`, algorithms: [algorithm] })(token), { code: 'FAST_JWT_INVALID_SIGNATURE' }, `${algorithm}: not with another secret`)

    t.match(logs.lines.filter(line => line.msg === 'issued an access token'), [{ client: 'm2m-reader', alg: algorithm, kid: undefined }])
    t.notOk(logs.text().includes(secret), `${algorithm}: the secret is never logged`)
  }
})
