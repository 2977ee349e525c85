import type { JwsAlgorithm } from './algorithms.js'
import { AlgorithmNotAllowed, MalformedToken, UnsupportedCritical, UnsupportedTokenHeader, WrongTokenType } from './errors.js'
import type { IssuerKey } from './jwks.js'

/** Far above any real access token, far below what would make parsing costly. */
export const MAX_TOKEN_LENGTH = 8192
const MAX_KID_LENGTH = 256
/** JWS compact serialization with a non-empty signature; JWE (5 parts) and unsigned tokens fail here. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The token's shape, checked before anything decodes it: junk never reaches a decoder, a key set or the crypto. */
export function checkCompactJws (token: string): void {
  if (token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token) || !token.split('.').every(isCanonicalBase64url)) {
    throw new MalformedToken()
  }
}

export interface HeaderRules {
  /** A key set finds its key by kid; an HMAC issuer has one secret and needs none. */
  kidRequired: boolean
  /** RFC 9068 section 2.1: `typ` must say this is an access token. */
  strict: boolean
}

/** RFC 9068's media type for JWT access tokens, with or without its `application/` prefix. */
const ACCESS_TOKEN_TYPES = ['at+jwt', 'application/at+jwt']

/**
 * The header rules, checked before any key is looked up: an allow-listed algorithm, a usable kid,
 * no critical extension (we understand none, RFC 7515 section 4.1.11; fast-jwt lets a falsy `crit`
 * such as null or "" through as absent), and in strict mode the access-token type.
 */
export function checkHeader (header: Record<string, unknown>, algorithms: readonly JwsAlgorithm[], rules: HeaderRules): { alg: JwsAlgorithm, kid: string | undefined } {
  const { alg, kid, typ } = header
  if (typeof alg !== 'string' || !(algorithms as readonly string[]).includes(alg)) throw new AlgorithmNotAllowed()
  if (kid !== undefined || rules.kidRequired) {
    if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) throw new UnsupportedTokenHeader()
  }
  if (Object.hasOwn(header, 'crit')) throw new UnsupportedCritical()
  // Media types compare case-insensitively (RFC 2045); RFC 7515 section 4.1.9 lets the prefix go.
  if (rules.strict && (typeof typ !== 'string' || !ACCESS_TOKEN_TYPES.includes(typ.toLowerCase()))) throw new WrongTokenType()
  return { alg: alg as JwsAlgorithm, kid: kid as string | undefined }
}

/** A key verifies only the algorithms it was published for, so a token cannot pick another. */
export function checkKeyAlgorithm (key: IssuerKey, alg: JwsAlgorithm): void {
  if (!(key.algorithms as readonly string[]).includes(alg)) throw new AlgorithmNotAllowed()
}

/** A JSON object from one base64url segment of a compact JWS, or undefined. */
export function decodeSegment (token: string, index: 0 | 1): Record<string, unknown> | undefined {
  const segment = token.split('.', 2)[index]
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/**
 * base64url has one spelling per byte string, but decoders ignore the unused low bits of the last
 * character (and a lone trailing character): without this check one signed token has several
 * spellings, each a "different" token to caches, logs and deny lists.
 */
function isCanonicalBase64url (segment: string): boolean {
  // Only the last character can carry unused bits: 4 of them after 2 characters of a group, 2
  // after 3. They must be zero. A lone trailing character encodes no whole byte at all.
  const tail = segment.length % 4
  if (tail === 0) return true
  if (tail === 1) return false
  const value = BASE64URL_ALPHABET.indexOf(segment[segment.length - 1])
  return (value & (tail === 2 ? 0b1111 : 0b11)) === 0
}
