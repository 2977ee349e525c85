import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { test } from 'tap'
import { ALGORITHMS_FOR_KEY_SETS, algorithmsForKey } from '../../src/auth/algorithms.js'
import { KeySetFormatError, parseKeySet, type IssuerKey } from '../../src/auth/jwks.js'
import { makeKey } from '../helpers/key-server.js'

const ALL = ALGORITHMS_FOR_KEY_SETS
const rsa = makeKey('RSA', 'rsa-1')
const ec = makeKey('EC', 'ec-1')
const ed = makeKey('Ed25519', 'ed-1')

function ecJwk (namedCurve: 'P-384' | 'P-521', kid: string): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve })
  return { ...publicKey.export({ format: 'jwk' }), kid }
}

/** An RSA public key of exactly `bits` bits (a random odd modulus: a public key's factors are never checked). */
function rsaOfBits (bits: number, kid: string): Record<string, unknown> {
  const modulus = randomBytes(bits / 8)
  modulus[0] |= 0x80
  modulus[modulus.length - 1] |= 1
  return { kty: 'RSA', n: modulus.toString('base64url'), e: 'AQAB', kid }
}

function ed25519Jwk (hex: string, kid: string): Record<string, unknown> {
  return { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(hex, 'hex').toString('base64url'), kid }
}

/**
 * Ed25519 public keys that let one signature verify for many messages: the points of small order
 * (orders 1, 2, 4, 4, 8, 8), one with its sign bit set, and non-canonical spellings of y = 0, 1, 2.
 */
const WEAK_ED25519 = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
]

/** The message of the KeySetFormatError a document causes. */
function formatError (document: unknown): string {
  try {
    parseKeySet(document, ALL)
  } catch (error) {
    if (error instanceof KeySetFormatError) return error.message
    throw error
  }
  throw new Error('expected a KeySetFormatError')
}

test('algorithmsForKey binds each key type to its algorithms', async t => {
  t.same(algorithmsForKey({ kty: 'RSA' }, ALL), ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
  t.same(algorithmsForKey({ kty: 'EC', crv: 'P-256' }, ALL), ['ES256'])
  t.same(algorithmsForKey({ kty: 'EC', crv: 'P-384' }, ALL), ['ES384'])
  t.same(algorithmsForKey({ kty: 'EC', crv: 'P-521' }, ALL), ['ES512'])
  t.same(algorithmsForKey({ kty: 'OKP', crv: 'Ed25519' }, ALL), ['EdDSA'])

  t.same(algorithmsForKey({ kty: 'RSA', alg: 'PS384' }, ALL), ['PS384'], 'a key naming its alg is bound to it')
  t.same(algorithmsForKey({ kty: 'EC', crv: 'P-256', alg: 'ES384' }, ALL), [], 'an alg its curve cannot do')
  t.same(algorithmsForKey({ kty: 'RSA', alg: 'HS256' }, ALL), [], 'shared-secret algorithms never')
  t.same(algorithmsForKey({ kty: 'RSA' }, ['RS256', 'ES256']), ['RS256'], 'narrowed by the allow-list')
  t.same(algorithmsForKey({ kty: 'RSA', alg: 'RS512' }, ['RS256']), [], 'an alg outside the allow-list')

  t.same(algorithmsForKey({ kty: 'EC', crv: 'P-192' }, ALL), [], 'unknown curve')
  t.same(algorithmsForKey({ kty: 'EC', crv: 7 }, ALL), [], 'non-string curve')
  t.same(algorithmsForKey({ kty: 'EC' }, ALL), [], 'missing curve')
  t.same(algorithmsForKey({ kty: 'EC', crv: 'toString' }, ALL), [], 'a curve named like an Object member')
  t.same(algorithmsForKey({ kty: 'EC', crv: '__proto__' }, ALL), [])
  t.same(algorithmsForKey({ kty: 'OKP', crv: 'X25519' }, ALL), [], 'key agreement curve')
  t.same(algorithmsForKey({ kty: 'oct' }, ALL), [], 'symmetric key')
  t.same(algorithmsForKey({}, ALL), [], 'no kty')
})

test('parseKeySet accepts RSA, EC and Ed25519 signing keys as SPKI PEM bound to their algorithms', async t => {
  const p384 = ecJwk('P-384', 'ec-384')
  const p521 = ecJwk('P-521', 'ec-521')
  const { keys, skipped } = parseKeySet({ keys: [rsa.publicJwk, ec.publicJwk, ed.publicJwk, p384, p521] }, ALL)
  t.same(skipped, [])
  t.same([...keys.keys()], ['rsa-1', 'ec-1', 'ed-1', 'ec-384', 'ec-521'])

  const key = keys.get('rsa-1') as IssuerKey
  t.equal(key.kid, 'rsa-1')
  t.same(key.algorithms, ['RS256'], 'narrowed by the published alg')
  t.match(key.pem, /^-----BEGIN PUBLIC KEY-----\n/)
  t.same(createPublicKey(key.pem).export({ format: 'jwk' }), { kty: 'RSA', n: rsa.publicJwk.n, e: rsa.publicJwk.e })
  t.same(keys.get('ec-1')?.algorithms, ['ES256'])
  t.same(keys.get('ed-1')?.algorithms, ['EdDSA'])
  t.same(keys.get('ec-384')?.algorithms, ['ES384'])
  t.same(keys.get('ec-521')?.algorithms, ['ES512'])

  const withoutUse: Record<string, unknown> = { ...rsa.publicJwk, kid: 'no-use' }
  delete withoutUse.use
  t.ok(parseKeySet({ keys: [withoutUse] }, ALL).keys.has('no-use'), 'use is optional')
  const onlyAllowed = parseKeySet({ keys: [rsa.publicJwk, ec.publicJwk] }, ['ES256'])
  t.same([...onlyAllowed.keys.keys()], ['ec-1'])
  t.same(onlyAllowed.skipped, ['key 0: kid "rsa-1" fits no allowed algorithm'])
})

test('parseKeySet refuses documents that are not a key set', async t => {
  const notASet = 'the key set is not a JSON object with a "keys" array'
  t.equal(formatError(null), notASet)
  t.equal(formatError('keys'), notASet)
  t.equal(formatError([rsa.publicJwk]), notASet)
  t.equal(formatError({}), notASet)
  t.equal(formatError({ keys: { 0: rsa.publicJwk } }), notASet)
  t.equal(formatError({ keys: [] }), 'the key set has no usable signing key', 'an empty set is an error, never a replacement')
})

test('parseKeySet skips every malformed or unsafe key and says why', async t => {
  const rsaPublic = rsa.publicJwk
  const rsaPrivate = { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'private', use: 'sig' }
  const short = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'short' }
  const badEc = { ...ec.publicJwk, kid: 'bad-ec', x: 'AAAA' }
  const notOnCurve = { ...ec.publicJwk, kid: 'off-curve', y: ec.publicJwk.x }
  const documents: Array<[unknown, string]> = [
    [null, 'key 0: not an object'],
    ['key', 'key 0: not an object'],
    [[rsaPublic], 'key 0: not an object'],
    [{ ...rsaPublic, kid: undefined }, 'key 0: no usable kid'],
    [{ ...rsaPublic, kid: '' }, 'key 0: no usable kid'],
    [{ ...rsaPublic, kid: 42 }, 'key 0: no usable kid'],
    [{ ...rsaPublic, kid: 'k'.repeat(257) }, 'key 0: no usable kid'],
    [{ ...rsaPublic, kid: 'enc', use: 'enc' }, 'key 0: kid "enc" is not a signing key'],
    [rsaPrivate, 'key 0: kid "private" carries private key material and is refused'],
    [{ ...ed.privateKey.export({ format: 'jwk' }), kid: 'ed-private' }, 'key 0: kid "ed-private" carries private key material and is refused'],
    [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }, 'key 0: kid "hmac" has unsupported key type'],
    [{ ...rsaPublic, kty: 'rsa', kid: 'lower' }, 'key 0: kid "lower" has unsupported key type'],
    [{ ...rsaPublic, kty: undefined, kid: 'none' }, 'key 0: kid "none" has unsupported key type'],
    [{ ...rsaPublic, kty: 'constructor', kid: 'proto' }, 'key 0: kid "proto" has unsupported key type'],
    [{ ...rsaPublic, kty: '__proto__', kid: 'proto' }, 'key 0: kid "proto" has unsupported key type'],
    [{ ...rsaPublic, kid: 'hs', alg: 'HS256' }, 'key 0: kid "hs" fits no allowed algorithm'],
    [{ kty: 'OKP', crv: 'X25519', x: ed.publicJwk.x, kid: 'x25519' }, 'key 0: kid "x25519" fits no allowed algorithm'],
    [short, 'key 0: kid "short" is an RSA key shorter than 2048 bits'],
    [rsaOfBits(8200, 'long'), 'key 0: kid "long" is an RSA key longer than 8192 bits'],
    [{ ...rsaPublic, kid: 'e1', e: 'AQ' }, 'key 0: kid "e1" is an RSA key with an unsafe public exponent'],
    [{ ...rsaPublic, kid: 'e3', e: 'Aw' }, 'key 0: kid "e3" is an RSA key with an unsafe public exponent'],
    [{ ...rsaPublic, kid: 'even', e: 'AQAC' }, 'key 0: kid "even" is an RSA key with an unsafe public exponent'],
    [{ ...rsaPublic, kid: 'enc-ops', key_ops: ['encrypt'] }, 'key 0: kid "enc-ops" is not a verification key'],
    [{ ...rsaPublic, kid: 'ops-text', key_ops: 'verify' }, 'key 0: kid "ops-text" is not a verification key'],
    ...WEAK_ED25519.map((hex, index): [unknown, string] =>
      [ed25519Jwk(hex, `weak-${index}`), `key 0: kid "weak-${index}" is an Ed25519 key of small order or in a non-canonical encoding`]),
    [{ ...rsaPublic, kid: 'no-n', n: undefined }, 'key 0: kid "no-n" is not a valid RSA key'],
    [badEc, 'key 0: kid "bad-ec" is not a valid EC key'],
    [notOnCurve, 'key 0: kid "off-curve" is not a valid EC key']
  ]
  for (const [jwk, why] of documents) {
    t.equal(formatError({ keys: [jwk] }), `the key set has no usable signing key (${why})`, why)
    const { keys, skipped } = parseKeySet({ keys: [jwk, ed.publicJwk] }, ALL)
    t.same([...keys.keys()], ['ed-1'], 'a bad key does not spoil the good ones')
    t.same(skipped, [why])
  }
})

test('parseKeySet takes keys at the edges of what is allowed', async t => {
  const { keys } = parseKeySet({
    keys: [
      rsaOfBits(8192, 'longest'),
      { ...rsa.publicJwk, kid: 'ops', key_ops: ['verify'] },
      // A canonical y next to the non-canonical ones: only those at or above p are refused.
      ed25519Jwk('ecfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeff', 'near-p')
    ]
  }, ALL)
  t.same([...keys.keys()], ['longest', 'ops', 'near-p'])
})

test('parseKeySet keeps the first key of a duplicated kid', async t => {
  const twin = makeKey('RSA', 'rsa-1')
  const { keys, skipped } = parseKeySet({ keys: [rsa.publicJwk, twin.publicJwk, ec.publicJwk] }, ALL)
  t.same([...keys.keys()], ['rsa-1', 'ec-1'])
  t.same(skipped, ['key 1: duplicate kid "rsa-1"'])
  t.same(createPublicKey((keys.get('rsa-1') as IssuerKey).pem).export({ format: 'jwk' }).n, rsa.publicJwk.n)
})

test('parseKeySet keeps every key of a large set, whatever their order (JWKS_MAX_BYTES is the bound)', async t => {
  const published = Array.from({ length: 500 }, (_, index) => ({ ...ed.publicJwk, kid: `ed-${index}` }))
  const { keys, skipped } = parseKeySet({ keys: published }, ALL)
  t.equal(keys.size, 500)
  t.ok(keys.has('ed-250') && keys.has('ed-499'), 'the middle and the last key, appended by a rotation')
  t.same(skipped, [])
})

test('parseKeySet reuses an unchanged key and converts a changed one', async t => {
  const first = parseKeySet({ keys: [rsa.publicJwk, ec.publicJwk] }, ALL).keys
  const replaced = makeKey('EC', 'ec-1')
  const second = parseKeySet({ keys: [{ ...rsa.publicJwk, x5t: 'ignored' }, replaced.publicJwk] }, ALL, first).keys
  t.equal(second.get('rsa-1'), first.get('rsa-1'), 'same public fields: the same object')
  t.not(second.get('ec-1'), first.get('ec-1'), 'new material under the same kid: a new key')
  t.not(second.get('ec-1')?.pem, first.get('ec-1')?.pem)
  const narrowed = parseKeySet({ keys: [{ ...rsa.publicJwk, alg: 'PS256' }] }, ALL, first).keys
  t.not(narrowed.get('rsa-1'), first.get('rsa-1'), 'the same material bound to other algorithms is a new key')
  t.same(narrowed.get('rsa-1')?.algorithms, ['PS256'])
})
