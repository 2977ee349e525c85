import { generateKeyPairSync, sign } from 'node:crypto'
import { test } from 'tap'
import { DpopProofVerifier, normalisedUrl } from '../../src/dpop/proof-verifier.js'
import { accessTokenHash, DpopProofSigner } from '../../src/dpop/proof-signer.js'

const rules = { algorithms: ['ES256', 'PS256', 'RS256', 'EdDSA', 'ES384', 'ES512'] as const, maxAgeSeconds: 300, maxFutureSeconds: 30 }
const context = { method: 'GET', url: 'https://api.example.test/api/private', accessToken: 'token' }
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A proof built by hand: any header, any payload, signed by `key` as ES256. */
function handMade (header: Record<string, unknown>, payload: Record<string, unknown>) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const input = `${encode({ typ: 'dpop+jwt', alg: 'ES256', jwk, ...header })}.${encode(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}
const claims = (extra: Record<string, unknown> = {}) => ({
  jti: 'j', htm: 'GET', htu: context.url, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash('token'), ...extra
})

test('a good proof gives its key thumbprint, jti, iat and nonce', async t => {
  const verifier = new DpopProofVerifier(rules)
  for (const algorithm of ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'] as const) {
    const signer = new DpopProofSigner(algorithm)
    const proof = signer.proof({ htm: 'GET', htu: context.url, accessToken: 'token', nonce: 'n1' }, { jti: `j-${algorithm}`, iat: 1000 })
    t.same(verifier.check(proof, context, 1000_000), { thumbprint: signer.thumbprint, jti: `j-${algorithm}`, iat: 1000, nonce: 'n1' }, algorithm)
  }
  const noToken = new DpopProofSigner().proof({ htm: 'POST', htu: 'https://as.example/oauth/token' })
  t.equal(new DpopProofVerifier(rules).check(noToken, { method: 'POST', url: 'https://as.example/oauth/token' }).nonce, undefined, 'at a token endpoint there is no ath')
})

test('every malformed, mistyped or unacceptable proof is refused by its own code', async t => {
  const verifier = new DpopProofVerifier(rules)
  const code = (proof: string, now?: number): string => {
    try {
      verifier.check(proof, context, now)
      return 'accepted'
    } catch (error) {
      return (error as { code: string }).code
    }
  }
  t.equal(code(handMade({}, claims())), 'accepted', 'the hand-made proof is good as made')
  t.equal(code('a.b'), 'AUTH_DPOP_PROOF_MALFORMED')
  t.equal(code(`${'a'.repeat(9000)}.b.c`), 'AUTH_DPOP_PROOF_MALFORMED', 'too long')
  t.equal(code('bm90IGpzb24.e30.c2ln'), 'AUTH_DPOP_PROOF_MALFORMED', 'a header that is not JSON')
  t.equal(code(`${encode([1])}.e30.c2ln`), 'AUTH_DPOP_PROOF_MALFORMED', 'a header that is not an object')
  t.equal(code(handMade({ jwk: 'x' }, claims())), 'AUTH_DPOP_PROOF_MALFORMED', 'a jwk that is not an object')
  t.equal(code(handMade({ alg: undefined }, claims())), 'AUTH_DPOP_PROOF_MALFORMED', 'no alg')
  t.equal(code(handMade({ typ: 'JWT' }, claims())), 'AUTH_DPOP_PROOF_TYPE')
  t.equal(code(handMade({ alg: 'HS256' }, claims())), 'AUTH_DPOP_PROOF_ALGORITHM')
  t.equal(code(handMade({ alg: 'none' }, claims())), 'AUTH_DPOP_PROOF_ALGORITHM')
  t.equal(code(handMade({ alg: 'RS256' }, claims())), 'AUTH_DPOP_PROOF_KEY', 'an EC key for an RSA algorithm')
  t.equal(code(handMade({ jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' } }, claims())), 'AUTH_DPOP_PROOF_KEY', 'a private member')
  t.equal(code(handMade({ jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }, claims())), 'AUTH_DPOP_PROOF_KEY', 'not a point on the curve')
  t.equal(code(handMade({ jwk: { kty: 'EC', crv: 'P-256', x: 1, y: 2 } }, claims())), 'AUTH_DPOP_PROOF_KEY', 'no thumbprint')
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  t.equal(code(handMade({ alg: 'RS256', jwk: weak }, claims())), 'AUTH_DPOP_PROOF_KEY', 'an RSA key under 2048 bits')
  t.equal(code(handMade({}, { ...claims(), jti: undefined })), 'AUTH_DPOP_PROOF_MALFORMED', 'no jti')
  t.equal(code(handMade({}, { ...claims(), jti: 'j'.repeat(257) })), 'AUTH_DPOP_PROOF_MALFORMED', 'a jti too long')
  t.equal(code(handMade({}, { ...claims(), iat: 'now' })), 'AUTH_DPOP_PROOF_MALFORMED', 'iat not a number')
  t.equal(code(handMade({}, { ...claims(), nonce: 7 })), 'AUTH_DPOP_PROOF_MALFORMED', 'nonce not a string')
  t.equal(code(handMade({}, { ...claims(), htu: 42 })), 'AUTH_DPOP_PROOF_MALFORMED', 'htu not a string')
  t.equal(code(`${handMade({}, claims()).split('.').slice(0, 2).join('.')}.${encode('x')}`), 'AUTH_DPOP_PROOF_SIGNATURE')
  t.equal(code(handMade({}, claims({ htm: 'get' }))), 'AUTH_DPOP_PROOF_METHOD', 'methods are case-sensitive')
  t.equal(code(handMade({}, claims({ htu: 'ftp://api.example.test/api/private' }))), 'AUTH_DPOP_PROOF_URL')
  t.equal(code(handMade({}, claims({ htu: 'not a url' }))), 'AUTH_DPOP_PROOF_URL')
  t.equal(code(handMade({}, claims({ iat: 0 }))), 'AUTH_DPOP_PROOF_TIME')
  t.equal(code(handMade({}, claims({ ath: undefined }))), 'AUTH_DPOP_PROOF_ATH', 'ath is required with a token')
})

test('proof keys are imported once per header, and the cache is bounded', async t => {
  const verifier = new DpopProofVerifier(rules)
  const first = new DpopProofSigner()
  const proof = () => first.proof({ htm: 'GET', htu: context.url, accessToken: 'token' })
  verifier.check(proof(), context)
  // 1,024 other keys push the first one out; it is imported again, and still verifies.
  for (let i = 0; i < 1024; i++) {
    verifier.check(new DpopProofSigner().proof({ htm: 'GET', htu: context.url, accessToken: 'token' }), context)
  }
  t.equal(verifier.check(proof(), context).thumbprint, first.thumbprint)
})

test('normalisedUrl: origin and path of an http(s) URL without credentials', async t => {
  t.equal(normalisedUrl('HTTPS://Api.Example.test:443/a/./b/../c?q#f'), 'https://api.example.test/a/c')
  t.equal(normalisedUrl('http://localhost:3010/api'), 'http://localhost:3010/api')
  t.equal(normalisedUrl('http://localhost:3010/api'), 'http://localhost:3010/api', 'twice (the memo)')
  t.equal(normalisedUrl('mailto:a@b'), undefined)
  t.equal(normalisedUrl('https://u:p@host/'), undefined)
  t.equal(normalisedUrl('/relative'), undefined)
})
