import type { KeyObject } from 'node:crypto'

export const MIN_RSA_BITS = 2048
/** Far above what issuers publish (2048-4096 bits), and a bound on what checking one forged signature costs. */
export const MAX_RSA_BITS = 8192
/** Issuers publish 65537 (AQAB); a tiny exponent (e = 1 makes any "signature" verify) is never a real key. */
const MIN_RSA_EXPONENT = 65537n

/**
 * The Ed25519 points of small order, as encoded with the sign bit cleared (the list libsodium
 * refuses). With such a key, one fixed signature verifies for many or all messages.
 */
const SMALL_ORDER_ED25519 = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
])

/**
 * Why a published key, converted, is unfit to verify signatures, or undefined. Node and OpenSSL
 * take these keys without complaint, so the checks are ours: each refused kind lets a token be
 * forged without any private key.
 */
export function keyWeakness (key: KeyObject): string | undefined {
  if (key.asymmetricKeyType === 'rsa') {
    // Node reports both for every RSA key.
    const { modulusLength, publicExponent } = key.asymmetricKeyDetails as { modulusLength: number, publicExponent: bigint }
    if (modulusLength < MIN_RSA_BITS) return `is an RSA key shorter than ${MIN_RSA_BITS} bits`
    if (modulusLength > MAX_RSA_BITS) return `is an RSA key longer than ${MAX_RSA_BITS} bits`
    if (publicExponent < MIN_RSA_EXPONENT || publicExponent % 2n === 0n) return 'is an RSA key with an unsafe public exponent'
  }
  if (key.asymmetricKeyType === 'ed25519') {
    const point = Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url')
    point[31] &= 0x7f // the sign of x: both signs of a small-order y are refused
    if (SMALL_ORDER_ED25519.has(point.toString('hex')) || !isCanonicalY(point)) return 'is an Ed25519 key of small order or in a non-canonical encoding'
  }
  return undefined
}

/** y < p = 2^255 - 19, little-endian, sign bit cleared: the values at or above p are non-canonical spellings of small ones. */
function isCanonicalY (point: Buffer): boolean {
  if (point[31] !== 0x7f || point[0] < 0xed) return true
  return point.subarray(1, 31).some(byte => byte !== 0xff)
}
