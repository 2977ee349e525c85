import { createHash } from 'node:crypto'

/** RFC 7638 section 3.2: the members a thumbprint covers, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n']
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what a DPoP-bound token's
 * `cnf.jkt` names. Undefined for a key type without a thumbprint definition or a required member
 * that is not a string.
 */
export function jwkThumbprint (jwk: Readonly<Record<string, unknown>>): string | undefined {
  const kty = jwk.kty
  if (typeof kty !== 'string' || !Object.hasOwn(THUMBPRINT_MEMBERS, kty)) return undefined
  const members: Record<string, string> = {}
  for (const name of THUMBPRINT_MEMBERS[kty]) {
    const value = jwk[name]
    if (typeof value !== 'string') return undefined
    members[name] = value
  }
  // JSON.stringify of an object built in that order is the canonical form RFC 7638 asks for:
  // no white space, members sorted, strings escaped the JSON way.
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}
