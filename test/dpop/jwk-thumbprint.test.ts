import { generateKeyPairSync } from 'node:crypto'
import { test } from 'tap'
import { jwkThumbprint } from '../../src/dpop/jwk-thumbprint.js'

// RFC 7638 section 3.1's example key and the thumbprint the RFC gives for it.
const RFC7638_N = '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw'

test('RFC 7638: the example of section 3.1, whatever other members the key has', async t => {
  t.equal(jwkThumbprint({ kty: 'RSA', n: RFC7638_N, e: 'AQAB', alg: 'RS256', kid: '2011-04-29' }), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
})

test('EC and OKP keys: only the required members count, in lexicographic order', async t => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>
  const reordered = { y: ec.y, x: ec.x, kty: 'EC', crv: 'P-256', use: 'sig' }
  t.equal(jwkThumbprint(reordered), jwkThumbprint(ec))
  t.match(jwkThumbprint(ec), /^[A-Za-z0-9_-]{43}$/)
  const okp = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as Record<string, string>
  t.not(jwkThumbprint(okp), undefined)
  // Another last character, whatever this key's is (it may be an A already).
  const other = `${okp.x.slice(0, -1)}${okp.x.endsWith('A') ? 'B' : 'A'}`
  t.not(jwkThumbprint({ ...okp, x: other }), jwkThumbprint(okp), 'a different key, a different thumbprint')
})

test('no thumbprint for an unknown key type or a missing or non-string member', async t => {
  t.equal(jwkThumbprint({ kty: 'oct', k: 'AA' }), undefined)
  t.equal(jwkThumbprint({ kty: 'toString' }), undefined, 'own members only')
  t.equal(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'AA' }), undefined)
  t.equal(jwkThumbprint({ kty: 'RSA', n: 1, e: 'AQAB' }), undefined)
  t.equal(jwkThumbprint({}), undefined)
})
