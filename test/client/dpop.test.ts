// The token client with a DPoP key (RFC 9449): its token requests carry a proof, only DPoP tokens
// are taken, and fetch() sends `Authorization: DPoP` with a proof for each request; nonces asked for
// by the token endpoint or the API are followed once. Every proof is checked by DpopProofVerifier,
// at the real local issuer, the test token endpoint (token-server.ts) and a test API on loopback.
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { DpopSession, asksForNonce } from '../../src/client/dpop.js'
import { TokenClient, type TokenClientOptions } from '../../src/client/token-client.js'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { DpopProofVerifier, type CheckedProof } from '../../src/dpop/proof-verifier.js'
import { AUDIENCE, SECRETS, startTestIssuer, verifyAgainstJwks } from '../issuer/helpers.js'
import { TokenServer, type TokenCall } from './token-server.js'

const verifier = new DpopProofVerifier({ algorithms: ['ES256', 'EdDSA'], maxAgeSeconds: 60, maxFutureSeconds: 5 })

/** The proof's claims, read after the verifier accepted it. */
function claimsOf (proof: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(proof.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
}

/** The DPoP proof of a request, checked for `method` and `url` (and the token's ath when given). */
function checkProof (headers: IncomingHttpHeaders, method: string, url: string, accessToken?: string): CheckedProof & { claims: Record<string, unknown> } {
  const proof = headers.dpop
  if (typeof proof !== 'string') throw new Error('no DPoP header')
  return { ...verifier.check(proof, { method, url, accessToken }), claims: claimsOf(proof) }
}

async function tokenServer (t: Test): Promise<TokenServer> {
  const server = await TokenServer.start()
  t.teardown(async () => { await server.down() })
  return server
}

function clientOf (server: TokenServer, signer: DpopProofSigner, options: Partial<TokenClientOptions> = {}): TokenClient {
  return new TokenClient({ tokenEndpoint: server.tokenEndpoint, clientId: 'svc', clientSecret: 'svc-secret', audience: 'https://api.example.test', dpop: signer, ...options })
}

const dpopToken = (n: number): { body: Record<string, unknown> } => ({ body: { access_token: `dpop-at-${n}`, token_type: 'DPoP', expires_in: 3600 } })

t.test('against the local issuer: a DPoP token bound to the client\'s key', async t => {
  const { issuer } = await startTestIssuer(t)
  const signer = new DpopProofSigner()
  const client = new TokenClient({ issuer, clientId: 'm2m-reader', clientSecret: SECRETS.reader, audience: AUDIENCE, dpop: signer })
  const token = await client.getToken()
  t.equal(token.tokenType, 'DPoP')
  const { payload } = await verifyAgainstJwks(issuer, token.accessToken)
  t.same(payload.cnf, { jkt: signer.thumbprint })
  t.equal(await client.getToken(), token, 'cached for the audience and scope, as a Bearer token is')
  const bearer = await new TokenClient({ issuer, clientId: 'm2m-reader', clientSecret: SECRETS.reader, audience: AUDIENCE }).getToken()
  t.equal(bearer.tokenType, 'Bearer', 'without a key: Bearer, as before')
})

t.test('token requests carry a new proof for POST to the token endpoint; only a DPoP token is taken', async t => {
  const server = await tokenServer(t)
  const signer = new DpopProofSigner('EdDSA')
  server.behaviour = (_call, n) => dpopToken(n)
  const client = clientOf(server, signer)
  t.match(await client.getToken(), { accessToken: 'dpop-at-1', tokenType: 'DPoP' })
  await client.getToken({ scope: 'read' })
  t.equal(server.calls.length, 2, 'one request per audience and scope')
  const [first, second] = server.calls.map(call => checkProof(call.headers, 'POST', server.tokenEndpoint))
  t.equal(first.thumbprint, signer.thumbprint)
  t.not(first.jti, second.jti, 'a new proof each time')
  t.notOk('ath' in first.claims || 'nonce' in first.claims, 'no ath at the token endpoint, no nonce unasked')

  server.behaviour = () => ({ body: { access_token: 'bearer-at', token_type: 'Bearer', expires_in: 3600 } })
  await t.rejects(clientOf(server, signer).getToken(), {
    name: 'TokenRequestError', status: 200, description: 'the answer\'s token_type is not DPoP'
  }, 'a Bearer token would not be bound to the key')
  server.behaviour = () => ({ body: { access_token: 'lower', token_type: 'dpop', expires_in: 3600 } })
  t.equal((await clientOf(server, signer).getToken()).tokenType, 'DPoP', 'token_type is case-insensitive')
})

t.test('the token endpoint asks for a nonce: one more request with it, then the nonce is kept', async t => {
  const server = await tokenServer(t)
  const signer = new DpopProofSigner()
  const askForNonce = { status: 400, headers: { 'dpop-nonce': 'as-nonce-1' }, body: { error: 'use_dpop_nonce', error_description: 'send the nonce' } }
  const withNonce = (call: TokenCall, n: number): ReturnType<typeof dpopToken> | typeof askForNonce =>
    claimsOf(call.headers.dpop as string).nonce === 'as-nonce-1' ? dpopToken(n) : askForNonce
  server.behaviour = withNonce
  const client = clientOf(server, signer, { maxRetries: 0 })
  t.equal((await client.getToken()).accessToken, 'dpop-at-2')
  t.same(server.calls.map(call => checkProof(call.headers, 'POST', server.tokenEndpoint).nonce), [undefined, 'as-nonce-1'])
  await client.getToken({ scope: 'other' })
  t.equal(server.calls.length, 3, 'the next request sends the kept nonce at once')

  // Asked again with the nonce just sent: the answer stands (one retry, never a loop).
  server.behaviour = () => askForNonce
  await t.rejects(clientOf(server, signer).getToken(), { name: 'TokenRequestError', status: 400, error: 'use_dpop_nonce' })
  t.equal(server.calls.length, 5)
  // Asked without a nonce to send: nothing to retry with.
  server.behaviour = () => ({ ...askForNonce, headers: {} })
  await t.rejects(clientOf(server, signer).getToken(), { name: 'TokenRequestError', status: 400, error: 'use_dpop_nonce' })
  t.equal(server.calls.length, 6)
  // A nonce that is not one (RFC 9449 NQCHAR only) is not signed.
  server.behaviour = () => ({ ...askForNonce, headers: { 'dpop-nonce': 'has "quotes"' } })
  await t.rejects(clientOf(server, signer).getToken(), { name: 'TokenRequestError', status: 400, error: 'use_dpop_nonce' })
  t.equal(server.calls.length, 7)
  // Without a DPoP key, use_dpop_nonce is an error like any other.
  server.behaviour = () => askForNonce
  await t.rejects(new TokenClient({ tokenEndpoint: server.tokenEndpoint, clientId: 'svc', clientSecret: 'svc-secret' }).getToken(), { name: 'TokenRequestError', status: 400, error: 'use_dpop_nonce' })
  t.equal(server.calls.length, 8)
})

interface ApiCall {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** An API on loopback that records each call and answers with `reply` (200 by default). */
async function api (t: Test, reply: (call: ApiCall, response: ServerResponse) => void = (_call, response) => { response.end('{}') }): Promise<{ origin: string, calls: ApiCall[] }> {
  const calls: ApiCall[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => {
      const call = { method: request.method as string, url: request.url as string, headers: request.headers, body }
      calls.push(call)
      reply(call, response)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls }
}

t.test('fetch() sends Authorization: DPoP and a fresh proof for the method and URL, with ath', async t => {
  const server = await tokenServer(t)
  server.behaviour = (_call, n) => dpopToken(n)
  const target = await api(t)
  const signer = new DpopProofSigner()
  const client = clientOf(server, signer)

  t.equal((await client.fetch(`${target.origin}/api/private?x=1#part`)).status, 200)
  t.equal((await client.fetch(new URL(`${target.origin}/api/messages`), { method: 'post', body: 'hello', headers: { 'x-custom': 'kept' } })).status, 200)
  t.equal((await client.fetch(`${target.origin}/api/messages/1`, { method: 'PATCH' })).status, 200)
  const [get, post, patch] = target.calls
  t.equal(get.headers.authorization, 'DPoP dpop-at-1')
  const getProof = checkProof(get.headers, 'GET', `${target.origin}/api/private`, 'dpop-at-1')
  t.equal(getProof.thumbprint, signer.thumbprint, 'signed by the key the token is bound to')
  t.equal(getProof.claims.htu, `${target.origin}/api/private`, 'htu without query or fragment')
  t.match(post, { method: 'POST', body: 'hello', headers: { authorization: 'DPoP dpop-at-1', 'x-custom': 'kept' } })
  checkProof(post.headers, 'POST', `${target.origin}/api/messages`, 'dpop-at-1')
  checkProof(patch.headers, 'PATCH', `${target.origin}/api/messages/1`, 'dpop-at-1')
  t.equal(new Set([getProof.jti, claimsOf(post.headers.dpop as string).jti]).size, 2, 'a new jti per request')
  t.equal(server.calls.length, 1, 'one token for all three')
})

t.test('the API asks for a nonce: the same request once more with it, kept per origin', async t => {
  const server = await tokenServer(t)
  server.behaviour = (_call, n) => dpopToken(n)
  let current = 'rs-nonce-1'
  const challenge = (response: ServerResponse, nonce: string | undefined): void => {
    response.writeHead(401, {
      'www-authenticate': 'DPoP realm="api", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256"',
      ...(nonce === undefined ? {} : { 'dpop-nonce': nonce })
    }).end('{}')
  }
  const target = await api(t, (call, response) => {
    if (claimsOf(call.headers.dpop as string).nonce === current) response.end('{}')
    else challenge(response, current)
  })
  const other = await api(t)
  const signer = new DpopProofSigner()
  const client = clientOf(server, signer)

  t.equal((await client.fetch(`${target.origin}/a`, { method: 'POST', body: 'once more' })).status, 200)
  t.same(target.calls.map(call => [call.body, checkProof(call.headers, 'POST', `${target.origin}/a`, 'dpop-at-1').nonce]),
    [['once more', undefined], ['once more', 'rs-nonce-1']], 'the same request, with the nonce')
  t.equal((await client.fetch(`${target.origin}/b`)).status, 200)
  t.equal(target.calls.length, 3, 'the kept nonce goes with the next request at once')
  t.equal(claimsOf(target.calls[2].headers.dpop as string).nonce, 'rs-nonce-1')
  await client.fetch(`${other.origin}/c`)
  t.notOk('nonce' in claimsOf(other.calls[0].headers.dpop as string), 'another origin does not get it')

  current = 'rs-nonce-2'
  t.equal((await client.fetch(`${target.origin}/d`)).status, 200, 'a rotated nonce: asked for, and followed again')
  t.equal(target.calls.length, 5)
  t.equal(server.calls.length, 1, 'a nonce challenge never costs the token')

  // Asked again after the retry, asked without a nonce, or with a stream body: returned as it is.
  const stubborn = await api(t, (_call, response) => { challenge(response, `n-${Math.random()}`) })
  t.equal((await client.fetch(`${stubborn.origin}/x`)).status, 401)
  t.equal(stubborn.calls.length, 2, 'one retry, never a loop')
  const noNonce = await api(t, (_call, response) => { challenge(response, undefined) })
  t.equal((await client.fetch(`${noNonce.origin}/x`)).status, 401)
  t.equal(noNonce.calls.length, 1)
  const stream = await api(t, (_call, response) => { challenge(response, 'fresh') })
  const body = Readable.toWeb(Readable.from(['streamed'])) as ReadableStream
  t.equal((await client.fetch(`${stream.origin}/x`, { method: 'POST', body, duplex: 'half' } as RequestInit)).status, 401)
  t.equal(stream.calls.length, 1, 'a stream cannot be sent twice')
  t.equal(server.calls.length, 1, 'none of these cost the token either')
})

t.test('a 401 for the token itself: a new DPoP token, once, as with Bearer', async t => {
  const server = await tokenServer(t)
  server.behaviour = (_call, n) => dpopToken(n)
  const target = await api(t, (call, response) => {
    response.writeHead(call.headers.authorization === 'DPoP dpop-at-1' ? 401 : 200, { 'www-authenticate': 'DPoP realm="api", error="invalid_token"', 'dpop-nonce': 'n' }).end()
  })
  const client = clientOf(server, new DpopProofSigner())
  t.equal((await client.fetch(`${target.origin}/a`)).status, 200)
  t.same(target.calls.map(call => call.headers.authorization), ['DPoP dpop-at-1', 'DPoP dpop-at-2'])
  checkProof(target.calls[1].headers, 'GET', `${target.origin}/a`, 'dpop-at-2')
  t.equal(claimsOf(target.calls[1].headers.dpop as string).nonce, 'n', 'a nonce in any answer is kept')
})

t.test('DpopSession: methods as fetch sends them, nonces bounded to 256 origins; asksForNonce', async t => {
  const session = new DpopSession(new DpopProofSigner())
  const claims = (method: string | undefined, url: string): Record<string, unknown> => claimsOf(session.proof(method, url))
  t.match(claims(undefined, 'https://a.test/x?q'), { htm: 'GET', htu: 'https://a.test/x' })
  t.match(claims('delete', 'https://a.test/'), { htm: 'DELETE' })
  t.match(claims('patch', 'https://a.test/'), { htm: 'patch' }, 'fetch does not upper-case PATCH either')
  const nonce = (value: string): Headers => new Headers({ 'dpop-nonce': value })
  t.equal(session.remember('https://a.test/', new Headers()), false)
  for (let i = 0; i <= 256; i++) t.equal(session.remember(`https://h${i}.test/`, nonce(`n${i}`)), true)
  t.notOk('nonce' in claims('GET', 'https://h0.test/'), 'the oldest origin is forgotten')
  t.equal(claims('GET', 'https://h1.test/').nonce, 'n1')
  t.equal(session.remember('https://h1.test/', nonce('x'.repeat(513))), false, 'too long to be a nonce')

  const response = (status: number, challenge?: string): Response => new Response(null, { status, headers: challenge === undefined ? {} : { 'www-authenticate': challenge } })
  t.ok(asksForNonce(response(401, 'DPoP error="use_dpop_nonce"')))
  t.ok(asksForNonce(response(401, 'Bearer realm="api", DPoP realm="api", error=use_dpop_nonce, algs="ES256"')))
  t.notOk(asksForNonce(response(401, 'DPoP error="use_dpop_nonces"')))
  t.notOk(asksForNonce(response(401, 'DPoP error="invalid_token", error_description="not use_dpop_nonce"')))
  t.notOk(asksForNonce(response(401)))
  t.notOk(asksForNonce(response(400, 'DPoP error="use_dpop_nonce"')))
})
