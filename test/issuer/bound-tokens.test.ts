// Sender-constrained tokens from the local issuer: DPoP-bound (RFC 9449 section 5) for a token
// request with a valid proof, certificate-bound (RFC 8705) for a client registered with a
// certificate. Real issuers on loopback, real keys, proofs signed by DpopProofSigner or by hand.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { DpopProofSigner } from '../../src/dpop/proof-signer.js'
import { loadIssuerConfig } from '../../src/issuer/config.js'
import { DPOP_SIGNING_ALGORITHMS, TokenEndpointDpop } from '../../src/issuer/dpop.js'
import { MemoryReplayStore } from '../../src/replay/memory-store.js'
import { AUDIENCE, SECRETS, clientCredentials, passwordGrant, postToken, startTestIssuer, testConfig, testDirs, verifyAgainstJwks, type TokenCall } from './helpers.js'

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url))
const CLIENT_CERT = join(TLS, 'client.crt')
/** x5t#S256 of the fixture certificates, computed by openssl (generate-mtls.sh). */
const OPENSSL_THUMBPRINTS = JSON.parse(readFileSync(join(TLS, 'mtls-thumbprints.json'), 'utf8')) as Record<string, string>

const reader = (): Record<string, string> => clientCredentials('m2m-reader', SECRETS.reader)
const tokenEndpoint = (issuer: string): string => new URL('oauth/token', issuer).href

function expectInvalidProof (t: Test, call: TokenCall, description: string, name: string): void {
  t.equal(call.status, 400, `${name}: 400`)
  t.same(call.body, { error: 'invalid_dpop_proof', error_description: description }, `${name}: body`)
  t.equal(call.headers.get('cache-control'), 'no-store', `${name}: not cached`)
  t.equal(call.headers.get('www-authenticate'), null, `${name}: no challenge`)
}

/** A proof signed by hand, for the headers and claims DpopProofSigner never makes. */
function handMadeProof (header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${encode(header)}.${encode(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}

/** POST /oauth/token with the DPoP header sent as two header lines (fetch would join them into one). */
async function postWithTwoProofs (issuer: string, proofs: [string, string]): Promise<TokenCall> {
  const body = JSON.stringify(reader())
  return await new Promise((resolve, reject) => {
    const outgoing = request(tokenEndpoint(issuer), { method: 'POST', headers: { 'content-type': 'application/json', dpop: proofs } }, response => {
      let text = ''
      response.on('data', (chunk: Buffer) => { text += chunk.toString() })
      response.on('end', () => {
        const headers = new Headers(Object.entries(response.headers).map(([name, value]) => [name, String(value)]))
        resolve({ status: response.statusCode as number, headers, body: JSON.parse(text) as Record<string, unknown> })
      })
    })
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

t.test('a token request with a valid DPoP proof gets a DPoP token bound to the proof key', async t => {
  const { issuer } = await startTestIssuer(t)
  for (const algorithm of ['ES256', 'EdDSA', 'PS256'] as const) {
    const signer = new DpopProofSigner(algorithm)
    const call = await postToken(issuer, reader(), { dpop: signer.proof({ htm: 'POST', htu: tokenEndpoint(issuer) }) })
    t.equal(call.status, 200, algorithm)
    t.match(call.body, { token_type: 'DPoP', expires_in: 86400, scope: 'read:messages' }, algorithm)
    const { payload } = await verifyAgainstJwks(issuer, call.body.access_token as string)
    t.same(payload.cnf, { jkt: signer.thumbprint }, `${algorithm}: cnf.jkt is the proof key's thumbprint`)
    t.match(payload, { sub: 'm2m-reader@clients', aud: AUDIENCE, scope: 'read:messages' })
  }

  // The password grant, and a form body: bound the same way.
  const signer = new DpopProofSigner()
  const password = await postToken(issuer, passwordGrant(), { form: true, dpop: signer.proof({ htm: 'POST', htu: tokenEndpoint(issuer) }) })
  t.equal(password.body.token_type, 'DPoP')
  t.same((await verifyAgainstJwks(issuer, password.body.access_token as string)).payload.cnf, { jkt: signer.thumbprint })

  // Without a DPoP header: a Bearer token, as before, with no cnf.
  const bearer = await postToken(issuer, reader())
  t.equal(bearer.body.token_type, 'Bearer')
  t.notOk('cnf' in (await verifyAgainstJwks(issuer, bearer.body.access_token as string)).payload, 'no cnf')

  const discovery = await (await fetch(new URL('.well-known/openid-configuration', issuer))).json() as Record<string, unknown>
  t.same(discovery.dpop_signing_alg_values_supported, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])
  t.equal(discovery.tls_client_certificate_bound_access_tokens, true)
  t.ok((discovery.claims_supported as string[]).includes('cnf'))
})

t.test('proofs the token endpoint refuses: 400 invalid_dpop_proof, and no token', async t => {
  const { issuer } = await startTestIssuer(t)
  const endpoint = tokenEndpoint(issuer)
  const signer = new DpopProofSigner()
  const refused = async (proof: string, description: string, name: string): Promise<void> => {
    expectInvalidProof(t, await postToken(issuer, reader(), { dpop: proof }), description, name)
  }
  const wrongUrl = `the DPoP proof htu must be ${endpoint}`
  await refused(signer.proof({ htm: 'POST', htu: 'http://localhost:1/oauth/token' }), wrongUrl, 'another port')
  await refused(signer.proof({ htm: 'POST', htu: 'http://attacker.example/oauth/token' }), wrongUrl, 'another host')
  await refused(signer.proof({ htm: 'POST', htu: endpoint.replace('localhost', '127.0.0.1') }), wrongUrl, 'the issuer names itself localhost only')
  await refused(signer.proof({ htm: 'POST', htu: `${issuer}token` }), wrongUrl, 'another path')
  await refused(signer.proof({ htm: 'GET', htu: endpoint }), 'the DPoP proof htm is not the method of this request', 'wrong htm')
  await refused(signer.proof({ htm: 'POST', htu: endpoint }, { iat: Math.floor(Date.now() / 1000) - 301 }), 'the DPoP proof iat is outside the accepted window', 'too old')
  await refused(signer.proof({ htm: 'POST', htu: endpoint }, { iat: Math.floor(Date.now() / 1000) + 60 }), 'the DPoP proof iat is outside the accepted window', 'from the future')
  await refused('not.a-proof', 'the DPoP proof is not a well-formed signed JWT with typ, alg and jwk, and jti, htm, htu and iat', 'not a JWS')

  // Another key's signature on this key's proof.
  const [header, payload] = signer.proof({ htm: 'POST', htu: endpoint }).split('.')
  const otherSignature = new DpopProofSigner().proof({ htm: 'POST', htu: endpoint }).split('.')[2]
  await refused(`${header}.${payload}.${otherSignature}`, 'the DPoP proof signature is invalid', 'bad signature')

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const privateJwk = privateKey.export({ format: 'jwk' })
  const claims = { jti: 'hand-made-1', htm: 'POST', htu: endpoint, iat: Math.floor(Date.now() / 1000) }
  await refused(handMadeProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: privateJwk }, claims, privateKey),
    'the DPoP proof jwk is not an acceptable public key for its algorithm', 'the private key in the jwk')
  const { d: _d, ...publicJwk } = privateJwk
  await refused(handMadeProof({ typ: 'JWT', alg: 'ES256', jwk: publicJwk }, claims, privateKey), 'the DPoP proof is not typed dpop+jwt', 'typ')
  await refused(handMadeProof({ typ: 'dpop+jwt', alg: 'HS256', jwk: publicJwk }, claims, privateKey),
    `the DPoP proof alg must be one of ${DPOP_SIGNING_ALGORITHMS.join(', ')}`, 'a symmetric alg')

  const proof = signer.proof({ htm: 'POST', htu: endpoint })
  t.equal((await postToken(issuer, reader(), { dpop: proof })).status, 200, 'a proof is accepted once')
  await refused(proof, 'the DPoP proof was already used: make a new proof for every request', 'replayed')

  expectInvalidProof(t, await postWithTwoProofs(issuer, [signer.proof({ htm: 'POST', htu: endpoint }), signer.proof({ htm: 'POST', htu: endpoint })]),
    'send exactly one DPoP header', 'two DPoP headers')

  // A good proof does not stand in for client authentication.
  const wrongSecret = await postToken(issuer, clientCredentials('m2m-reader', 'wrong'), { dpop: signer.proof({ htm: 'POST', htu: endpoint }) })
  t.match(wrongSecret, { status: 401, body: { error: 'invalid_client' } })
})

t.test('a full replay store refuses DPoP token requests (503) rather than forget a proof', async t => {
  const endpoint = 'http://localhost:3011/oauth/token'
  const dpop = new TokenEndpointDpop(() => endpoint, new MemoryReplayStore({ capacity: 1 }))
  t.teardown(() => dpop.close())
  const signer = new DpopProofSigner()
  t.equal(await dpop.keyThumbprint([signer.proof({ htm: 'POST', htu: endpoint })]), signer.thumbprint)
  t.equal(await dpop.keyThumbprint(undefined), undefined, 'no proof, no binding')
  await t.rejects(dpop.keyThumbprint([signer.proof({ htm: 'POST', htu: endpoint })]), {
    name: 'OAuthError', error: 'temporarily_unavailable', statusCode: 503, message: 'too many DPoP proofs to remember; retry shortly'
  })
})

/** The test config plus `m2m-mtls`, registered with a certificate at `certificate`. */
async function configWithCertificateClient (certificate: string): Promise<Record<string, unknown>> {
  const base = await testConfig()
  const [readerClient] = base.clients as Array<Record<string, unknown>>
  return { ...base, clients: [...base.clients as unknown[], { ...readerClient, clientId: 'm2m-mtls', certificate }] }
}

t.test('a client registered with a certificate gets tokens bound to it (cnf x5t#S256)', async t => {
  const { configPath, keyDir } = await testDirs(t, await configWithCertificateClient(CLIENT_CERT))
  const { issuer } = await startTestIssuer(t, { configPath, keyDir })
  const expected = OPENSSL_THUMBPRINTS['client.crt']

  const call = await postToken(issuer, clientCredentials('m2m-mtls', SECRETS.reader))
  t.equal(call.status, 200)
  t.equal(call.body.token_type, 'Bearer', 'a certificate-bound token is sent as Bearer (RFC 8705)')
  t.same((await verifyAgainstJwks(issuer, call.body.access_token as string)).payload.cnf, { 'x5t#S256': expected })

  const signer = new DpopProofSigner()
  const both = await postToken(issuer, clientCredentials('m2m-mtls', SECRETS.reader), { dpop: signer.proof({ htm: 'POST', htu: tokenEndpoint(issuer) }) })
  t.equal(both.body.token_type, 'DPoP')
  t.same((await verifyAgainstJwks(issuer, both.body.access_token as string)).payload.cnf, { jkt: signer.thumbprint, 'x5t#S256': expected }, 'with a proof too: both bindings')

  const other = await postToken(issuer, reader())
  t.notOk('cnf' in (await verifyAgainstJwks(issuer, other.body.access_token as string)).payload, 'other clients stay unbound')
})

t.test('config: a certificate path is relative to the config file; a missing or non-certificate file is refused', async t => {
  const relative = await testDirs(t, await configWithCertificateClient('certs/client.crt'))
  const certs = join(relative.dir, 'certs')
  mkdirSync(certs)
  copyFileSync(join(TLS, 'self-signed-client.crt'), join(certs, 'client.crt'))
  const config = await loadIssuerConfig(relative.configPath)
  t.equal(config.clients.get('m2m-mtls')?.certificateThumbprint, OPENSSL_THUMBPRINTS['self-signed-client.crt'])
  t.equal(config.clients.get('m2m-reader')?.certificateThumbprint, undefined)

  const missing = await testDirs(t, await configWithCertificateClient('nowhere.crt'))
  await t.rejects(loadIssuerConfig(missing.configPath), {
    message: `Invalid local issuer config ${missing.configPath}: clients[4].certificate cannot be read: ${join(missing.dir, 'nowhere.crt')} (ENOENT)`
  })
  const key = join(TLS, 'client.key')
  const notACertificate = await testDirs(t, await configWithCertificateClient(key))
  await t.rejects(loadIssuerConfig(notACertificate.configPath), {
    message: `Invalid local issuer config ${notACertificate.configPath}: clients[4].certificate is not a PEM certificate: ${key}`
  })
})
