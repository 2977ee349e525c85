import type { AddressInfo } from 'node:net'
import { test, type Test } from 'tap'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { buildApp, envFor } from '../helpers/app.js'
import { KeyServer } from '../helpers/key-server.js'
import { rawRequest } from '../helpers/raw-http.js'

// DPoP (RFC 9449) end to end: real signed tokens bound to a real proof key, real proofs, the
// app as production builds it, and every check of section 4.3 and 7 seen from the client's side.

const PUBLIC_URL = 'https://api.example.test'
const ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA'
const DPOP_OFFER = `DPoP realm="api", algs="${ALGS}"`
const PRIVATE = { message: 'Hello from a private endpoint! You need to be authenticated to see this.' }

async function setUp (t: Test, env: Record<string, string> = {}) {
  const keys = await KeyServer.start()
  const app = await buildApp(envFor(keys, { PUBLIC_URL, ...env }), undefined, async fastify => {
    fastify.get('/by-hand', { config: { auth: false } }, async request => {
      await request.jwtVerify()
      return { sub: request.user.sub, jkt: request.accessToken?.binding.jkt }
    })
    fastify.get('/files/*', async request => ({ file: (request.params as Record<string, string>)['*'] }))
    fastify.get('/twice', { onRequest: fastify.authenticate }, async () => ({ ok: true }))
    fastify.get('/other-token', async request => {
      // A handler verifying a token from another header: that token's own binding is checked.
      await request.jwtVerify({ extractToken: (req: { headers: Record<string, unknown> }) => req.headers['x-other-token'] as string } as never)
      return { ok: true }
    })
    fastify.get('/declared-then-by-hand', async request => {
      await request.jwtVerify()
      return { jkt: request.accessToken?.binding.jkt }
    })
    fastify.get('/dpop-only', { config: { auth: { dpop: 'required' } } }, async () => ({ ok: true }))
    fastify.get('/bearer-only', { config: { auth: { dpop: 'off' } } }, async () => ({ ok: true }))
  })
  t.teardown(async () => { await app.close(); await keys.close() })
  const signer = new DpopProofSigner()
  const bound = keys.sign(keys.claims({ scope: 'read:messages', cnf: { jkt: signer.thumbprint } }))
  const call = (url: string, { token = bound, proof, method = 'GET', headers = {} }: { token?: string, proof?: string | string[], method?: 'GET' | 'POST', headers?: Record<string, string | string[]> } = {}) =>
    app.inject({
      method,
      url,
      headers: {
        authorization: `DPoP ${token}`,
        ...(proof === undefined ? {} : { dpop: proof }),
        ...headers
      }
    })
  const proofFor = (url: string, options: { method?: string, token?: string, nonce?: string, iat?: number, jti?: string, by?: DpopProofSigner } = {}) =>
    (options.by ?? signer).proof(
      { htm: options.method ?? 'GET', htu: `${PUBLIC_URL}${url}`, accessToken: options.token ?? bound, nonce: options.nonce },
      { iat: options.iat, jti: options.jti })
  return { app, keys, signer, bound, call, proofFor }
}

function rejected (response: { statusCode: number, headers: Record<string, unknown>, json: () => unknown }) {
  const { code } = response.json() as { code: string }
  return { status: response.statusCode, code, challenge: response.headers['www-authenticate'] }
}

test('a DPoP-bound token with a fresh proof is accepted, on every kind of route', async t => {
  const { call, proofFor, signer } = await setUp(t)
  const ok = await call('/api/private', { proof: proofFor('/api/private') })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), PRIVATE)
  const scoped = await call('/api/private-scoped', { proof: proofFor('/api/private-scoped') })
  t.equal(scoped.statusCode, 200, 'the scope check applies to DPoP tokens as to bearer ones')
  const byHand = await call('/by-hand', { proof: proofFor('/by-hand') })
  t.equal(byHand.statusCode, 200, 'a handler\'s own request.jwtVerify() checks the proof too')
  t.same(byHand.json(), { sub: 'client@clients', jkt: signer.thumbprint })
  const again = await call('/declared-then-by-hand', { proof: proofFor('/declared-then-by-hand') })
  t.equal(again.statusCode, 200, 'a declared route whose handler verifies again: the proof is not taken for a replay')
  t.same(again.json(), { jkt: signer.thumbprint })
  const withQuery = await call('/api/private?page=2', { proof: proofFor('/api/private') })
  t.equal(withQuery.statusCode, 200, 'htu names the URL without its query')
  for (const algorithm of ['ES384', 'EdDSA', 'PS256', 'RS256'] as const) {
    const other = new DpopProofSigner(algorithm)
    const { call: callOther, proofFor: proofOther, keys: otherKeys } = await setUp(t)
    const token = otherKeys.sign(otherKeys.claims({ cnf: { jkt: other.thumbprint } }))
    const response = await callOther('/api/private', { token, proof: proofOther('/api/private', { token, by: other }) })
    t.equal(response.statusCode, 200, `a ${algorithm} proof`)
  }
})

test('every proof is used once: a replay is refused, a new proof is not', async t => {
  const { call, proofFor } = await setUp(t)
  const proof = proofFor('/api/private')
  t.equal((await call('/api/private', { proof })).statusCode, 200)
  const replay = await call('/api/private', { proof })
  t.same(rejected(replay), {
    status: 401,
    code: 'AUTH_DPOP_PROOF_REPLAYED',
    challenge: `DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof was already used: send a new proof with every request", algs="${ALGS}", Bearer realm="api"`
  })
  t.equal((await call('/api/private', { proof: proofFor('/api/private') })).statusCode, 200)
  const same = proofFor('/by-hand', { jti: 'fixed' })
  t.equal((await call('/by-hand', { proof: same })).statusCode, 200)
  t.equal(rejected(await call('/by-hand', { proof: same })).code, 'AUTH_DPOP_PROOF_REPLAYED', 'on the by-hand path too')
})

test('each proof check of RFC 9449 section 4.3 has its own rejection', async t => {
  const { call, proofFor, keys } = await setUp(t)
  const now = Math.floor(Date.now() / 1000)
  const url = '/api/private'
  const cases: Array<[string, string | string[] | undefined, string, number?]> = [
    ['no proof', undefined, 'AUTH_DPOP_PROOF_MISSING'],
    ['two proofs', [proofFor(url), proofFor(url)], 'AUTH_DPOP_PROOF_DUPLICATE', 400],
    ['not a JWT', 'not-a-jwt', 'AUTH_DPOP_PROOF_MALFORMED'],
    ['a POST proof for a GET', proofFor(url, { method: 'POST' }), 'AUTH_DPOP_PROOF_METHOD'],
    ['another path', proofFor('/api/public'), 'AUTH_DPOP_PROOF_URL'],
    ['an old proof', proofFor(url, { iat: now - 301 }), 'AUTH_DPOP_PROOF_TIME'],
    ['a proof from the future', proofFor(url, { iat: now + 60 }), 'AUTH_DPOP_PROOF_TIME'],
    ['a proof for another token', proofFor(url, { token: keys.sign(keys.claims()) }), 'AUTH_DPOP_PROOF_ATH'],
    ['a proof signed by another key', proofFor(url, { by: new DpopProofSigner() }), 'AUTH_DPOP_KEY_MISMATCH'],
    ['a tampered signature', `${proofFor(url).slice(0, -4)}AAAA`, 'AUTH_DPOP_PROOF_SIGNATURE']
  ]
  for (const [what, proof, code, status = 401] of cases) {
    const response = rejected(await call(url, { proof }))
    t.equal(response.code, code, what)
    t.equal(response.status, status, `${what}: status`)
    t.match(response.challenge, /^DPoP realm="api", error="(invalid_dpop_proof|invalid_token|invalid_request)", error_description="[^"]+", algs="[^"]+", Bearer realm="api"$/, `${what}: a DPoP challenge`)
  }
})

test('the proof names the URL from PUBLIC_URL, never from Host or X-Forwarded-* headers', async t => {
  const { call, signer, bound } = await setUp(t)
  const proofAt = (htu: string) => signer.proof({ htm: 'GET', htu, accessToken: bound })
  const spoofed = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' }
  const forEvil = await call('/api/private', { proof: proofAt('http://evil.example/api/private'), headers: spoofed })
  t.equal(rejected(forEvil).code, 'AUTH_DPOP_PROOF_URL', 'a proof for the host a caller names is refused')
  const forUs = await call('/api/private', { proof: proofAt(`${PUBLIC_URL}/api/private`), headers: spoofed })
  t.equal(forUs.statusCode, 200, 'a proof for PUBLIC_URL is accepted whatever Host says')
  const normalised = await call('/api/private', { proof: proofAt('HTTPS://API.example.test:443/api/x/../private#frag') })
  t.equal(normalised.statusCode, 200, 'case, default port, dot segments and fragment are normalised (RFC 3986 6.2.2, 6.2.3)')
  const withCredentials = await call('/api/private', { proof: proofAt('https://user@api.example.test/api/private') })
  t.equal(rejected(withCredentials).code, 'AUTH_DPOP_PROOF_URL', 'an htu with credentials matches nothing')
  const pathAsHost = await call('//evil.example/api/private', { proof: proofAt('https://evil.example/api/private') })
  t.not(pathAsHost.statusCode, 200, 'a request path that looks like an authority stays a path')
})

test('the request path must be in normal form: the router serves it as sent', async t => {
  const { app, call, signer, bound } = await setUp(t)
  const proofAt = (path: string) => signer.proof({ htm: 'GET', htu: `${PUBLIC_URL}${path}`, accessToken: bound })
  t.same((await call('/files/public/x', { proof: proofAt('/files/public/x') })).json(), { file: 'public/x' })
  // Raw requests: light-my-request would normalise these paths before the service saw them.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const raw = (target: string) => rawRequest(port, target, [`Authorization: DPoP ${bound}`, `DPoP: ${proofAt('/files/public/x')}`])
  for (const target of ['/files/private/%2e%2e/public/x', '/files/private/../public/x', '/files/./public/x', 'http://api.example.test/files/public/x']) {
    const response = await raw(target)
    t.equal(response.status, 401, `${target}: refused`)
    t.equal(JSON.parse(response.body).code, 'AUTH_DPOP_PROOF_URL', `${target}: a proof for the path it normalises to does not pass`)
  }
  t.equal((await raw('/files/public/x')).status, 200, 'the same proof on the path it names')
})

test('fastify.authenticate after the route\'s own hook does not check (and burn) the proof again', async t => {
  const { call, proofFor } = await setUp(t)
  t.equal((await call('/twice', { proof: proofFor('/twice') })).statusCode, 200)
})

test('a handler verifying another token by hand gets that token\'s binding checked', async t => {
  const { app, keys, call, proofFor, bound } = await setUp(t)
  // The request's own token is a plain bearer token; the other one is DPoP-bound, with no proof of its own.
  const plain = keys.sign(keys.claims())
  const response = await app.inject({ url: '/other-token', headers: { authorization: `Bearer ${plain}`, 'x-other-token': bound } })
  t.equal(rejected(response).code, 'AUTH_DPOP_BOUND_TOKEN_AS_BEARER')
  const withProof = await call('/other-token', { token: plain, proof: proofFor('/other-token', { token: plain }), headers: { 'x-other-token': bound } })
  t.equal(rejected(withProof).code, 'AUTH_TOKEN_NOT_DPOP_BOUND', 'the route\'s own token is refused first: a plain token sent as DPoP')
})

test('no downgrade: a DPoP-bound token sent as Bearer is refused, and a bearer token sent as DPoP', async t => {
  const { app, keys, bound, call, proofFor } = await setUp(t)
  const asBearer = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${bound}` } })
  t.same(rejected(asBearer), {
    status: 401,
    code: 'AUTH_DPOP_BOUND_TOKEN_AS_BEARER',
    challenge: `Bearer realm="api", error="invalid_token", error_description="The access token is DPoP-bound: send it as Authorization: DPoP <token> with a DPoP proof", ${DPOP_OFFER}`
  })
  const again = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${bound}` } })
  t.equal(rejected(again).code, 'AUTH_DPOP_BOUND_TOKEN_AS_BEARER', 'also once its verdict is cached')
  const byHand = await app.inject({ url: '/by-hand', headers: { authorization: `Bearer ${bound}` } })
  t.equal(rejected(byHand).code, 'AUTH_DPOP_BOUND_TOKEN_AS_BEARER', 'also through request.jwtVerify()')
  const plain = keys.sign(keys.claims())
  const plainAsDpop = await call('/api/private', { token: plain, proof: proofFor('/api/private', { token: plain }) })
  t.equal(rejected(plainAsDpop).code, 'AUTH_TOKEN_NOT_DPOP_BOUND')
  const unsupported = keys.sign(keys.claims({ cnf: { jwk: { kty: 'EC' } } }))
  const refused = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${unsupported}` } })
  t.equal(rejected(refused).code, 'AUTH_UNSUPPORTED_CONFIRMATION', 'a confirmation method we cannot check is refused, not ignored')
  for (const cnf of ['x', {}, { jkt: 'short' }, { jkt: 42 }]) {
    const token = keys.sign(keys.claims({ cnf }))
    const response = await app.inject({ url: '/api/private', headers: { authorization: `Bearer ${token}` } })
    t.match(rejected(response).code, /^AUTH_(INVALID_CLAIM|UNSUPPORTED_CONFIRMATION)$/, `cnf ${JSON.stringify(cnf)}`)
  }
})

test('modes: DPOP=required, DPOP=off, and per route', async t => {
  const plainRoutes = await setUp(t)
  const bearerToken = plainRoutes.keys.sign(plainRoutes.keys.claims())
  const onDpopOnly = await plainRoutes.app.inject({ url: '/dpop-only', headers: { authorization: `Bearer ${bearerToken}` } })
  t.same(rejected(onDpopOnly), {
    status: 401,
    code: 'AUTH_DPOP_REQUIRED',
    challenge: `DPoP realm="api", error="invalid_token", error_description="This API requires a DPoP-bound access token: send Authorization: DPoP <token> with a DPoP proof", algs="${ALGS}"`
  }, 'a route that requires DPoP offers only DPoP')
  const anonymousOnDpopOnly = await plainRoutes.app.inject({ url: '/dpop-only' })
  t.equal(anonymousOnDpopOnly.headers['www-authenticate'], `DPoP realm="api", algs="${ALGS}"`)
  const ok = await plainRoutes.call('/dpop-only', { proof: plainRoutes.proofFor('/dpop-only') })
  t.equal(ok.statusCode, 200)
  const dpopOnBearerOnly = await plainRoutes.call('/bearer-only', { proof: plainRoutes.proofFor('/bearer-only') })
  t.same(rejected(dpopOnBearerOnly), {
    status: 401,
    code: 'AUTH_MISSING_TOKEN',
    challenge: 'Bearer realm="api"'
  }, 'a route with DPoP off takes the DPoP scheme for no credentials, and offers Bearer alone')

  const required = await setUp(t, { DPOP: 'required', DPOP_ALGORITHMS: 'ES256' })
  const bearer = await required.app.inject({ url: '/api/private', headers: { authorization: `Bearer ${required.keys.sign(required.keys.claims())}` } })
  t.equal(bearer.headers['www-authenticate'], 'DPoP realm="api", error="invalid_token", error_description="This API requires a DPoP-bound access token: send Authorization: DPoP <token> with a DPoP proof", algs="ES256"')
  t.equal((await required.call('/api/private', { proof: required.proofFor('/api/private') })).statusCode, 200)
  const edProof = new DpopProofSigner('EdDSA')
  const edToken = required.keys.sign(required.keys.claims({ cnf: { jkt: edProof.thumbprint } }))
  const refusedAlg = await required.call('/api/private', { token: edToken, proof: required.proofFor('/api/private', { token: edToken, by: edProof }) })
  t.equal(rejected(refusedAlg).code, 'AUTH_DPOP_PROOF_ALGORITHM', 'DPOP_ALGORITHMS is an allow-list')
  const scoped = await required.app.inject({
    url: '/api/private-scoped',
    headers: { authorization: `DPoP ${required.keys.sign(required.keys.claims({ scope: '', cnf: { jkt: required.signer.thumbprint } }))}` }
  })
  t.equal(rejected(scoped).code, 'AUTH_DPOP_PROOF_MISSING', 'the proof is checked before the scopes')

  const off = await setUp(t, { DPOP: 'off' })
  const dpopWhenOff = await off.call('/api/private', { proof: off.proofFor('/api/private') })
  t.same(rejected(dpopWhenOff), { status: 401, code: 'AUTH_MISSING_TOKEN', challenge: 'Bearer realm="api"' })
})

test('a scope failure on a DPoP request says so in the DPoP challenge', async t => {
  const { keys, signer, call, proofFor } = await setUp(t)
  const token = keys.sign(keys.claims({ scope: 'other', cnf: { jkt: signer.thumbprint } }))
  const response = await call('/api/private-scoped', { token, proof: proofFor('/api/private-scoped', { token }) })
  t.same(rejected(response), {
    status: 403,
    code: 'AUTH_INSUFFICIENT_SCOPE',
    challenge: `DPoP realm="api", error="insufficient_scope", error_description="The access token does not have the required scope (read:messages)", scope="read:messages", algs="${ALGS}", Bearer realm="api"`
  })
})

test('server nonces (DPOP_NONCE): use_dpop_nonce with a DPoP-Nonce, then accepted', async t => {
  const { call, proofFor } = await setUp(t, { DPOP_NONCE: 'true', DPOP_NONCE_SECRET: 'n'.repeat(32) })
  const first = await call('/api/private', { proof: proofFor('/api/private') })
  t.equal(rejected(first).code, 'AUTH_DPOP_NONCE_REQUIRED')
  t.equal(first.statusCode, 401)
  t.match(first.headers['www-authenticate'], /^DPoP realm="api", error="use_dpop_nonce", /)
  const nonce = first.headers['dpop-nonce'] as string
  t.match(nonce, /^[A-Za-z0-9_-]{30,}$/, 'a DPoP-Nonce header')
  const accepted = await call('/api/private', { proof: proofFor('/api/private', { nonce }) })
  t.equal(accepted.statusCode, 200)
  t.equal(accepted.headers['dpop-nonce'], nonce, 'an accepted DPoP request is told the current nonce (RFC 9449 section 8.2)')
  const wrong = await call('/api/private', { proof: proofFor('/api/private', { nonce: `${nonce.slice(0, -2)}xx` }) })
  t.equal(rejected(wrong).code, 'AUTH_DPOP_NONCE_REQUIRED', 'a forged nonce is refused')
})
