import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { algorithmsForKey, type AsymmetricAlgorithm } from './algorithms.js'
import { keyWeakness } from './key-strength.js'

/** A published key in the form verification needs, converted once when the set is loaded. */
export interface IssuerKey {
  kid: string
  /** SPKI PEM: @fastify/jwt keeps one verifier per PEM string, so a key is prepared only once. */
  pem: string
  algorithms: AsymmetricAlgorithm[]
  /** The public fields the key came from, to tell an unchanged key from a replaced one. */
  fingerprint: string
}

/** A key set document that cannot be used at all. */
export class KeySetFormatError extends Error {}

const MAX_KID_LENGTH = 256

const PUBLIC_FIELDS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x']
}

export interface ParsedKeySet {
  keys: Map<string, IssuerKey>
  /** Why some published keys were left out, for a log line. */
  skipped: string[]
}

/**
 * Turns a JWKS document into the keys we accept: signing keys with a kid, of a type and algorithm
 * the allow-list permits, never private key material. `previous` lets an unchanged key keep its
 * converted form. A set with no usable key is an error, so a broken answer never replaces a good set.
 */
export function parseKeySet (
  document: unknown,
  allowed: readonly AsymmetricAlgorithm[],
  previous: ReadonlyMap<string, IssuerKey> = new Map()
): ParsedKeySet {
  const published = (document as { keys?: unknown } | null)?.keys
  if (typeof document !== 'object' || !Array.isArray(published)) {
    throw new KeySetFormatError('the key set is not a JSON object with a "keys" array')
  }
  const keys = new Map<string, IssuerKey>()
  const skipped: string[] = []
  // Every key counts: JWKS_MAX_BYTES bounds what a lying issuer can make us hold or convert (a
  // few thousand keys at most, converted once, and kept converted across refreshes).
  for (const [index, jwk] of published.entries()) {
    const result = toIssuerKey(jwk, allowed, previous)
    if (typeof result === 'string') {
      skipped.push(`key ${index}: ${result}`)
    } else if (keys.has(result.kid)) {
      skipped.push(`key ${index}: duplicate kid "${result.kid}"`)
    } else {
      keys.set(result.kid, result)
    }
  }
  if (keys.size === 0) {
    throw new KeySetFormatError(`the key set has no usable signing key${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`)
  }
  return { keys, skipped }
}

/** The key, or why it was left out. */
function toIssuerKey (
  jwk: unknown,
  allowed: readonly AsymmetricAlgorithm[],
  previous: ReadonlyMap<string, IssuerKey>
): IssuerKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'not an object'
  const fields = jwk as Record<string, unknown>
  const { kid } = fields
  if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) return 'no usable kid'
  if (fields.use !== undefined && fields.use !== 'sig') return `kid "${kid}" is not a signing key`
  const ops = fields.key_ops
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return `kid "${kid}" is not a verification key`
  if ('d' in fields) return `kid "${kid}" carries private key material and is refused`
  // Own properties only: a kty of "constructor" or "__proto__" must not find Object's members.
  const names = Object.hasOwn(PUBLIC_FIELDS, String(fields.kty)) ? PUBLIC_FIELDS[String(fields.kty)] : undefined
  if (names === undefined) return `kid "${kid}" has unsupported key type`
  const algorithms = algorithmsForKey(fields, allowed)
  if (algorithms.length === 0) return `kid "${kid}" fits no allowed algorithm`
  const publicJwk = Object.fromEntries(names.map(name => [name, fields[name]]))
  const fingerprint = JSON.stringify([publicJwk, algorithms])
  const known = previous.get(kid)
  if (known !== undefined && known.fingerprint === fingerprint) return known
  try {
    const key = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' })
    const weakness = keyWeakness(key)
    if (weakness !== undefined) return `kid "${kid}" ${weakness}`
    return { kid, pem: key.export({ type: 'spki', format: 'pem' }) as string, algorithms, fingerprint }
  } catch {
    return `kid "${kid}" is not a valid ${String(fields.kty)} key`
  }
}
