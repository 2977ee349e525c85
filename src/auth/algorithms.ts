/** Asymmetric JWS algorithms a public key set can verify; shared-secret (HS*) and `none` never are. */
export const ALGORITHMS_FOR_KEY_SETS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA'
] as const

export type AsymmetricAlgorithm = typeof ALGORITHMS_FOR_KEY_SETS[number]

/** Shared-secret algorithms, for an issuer configured with a secret and never with a key set. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const

export type HmacAlgorithm = typeof HMAC_ALGORITHMS[number]

export type JwsAlgorithm = AsymmetricAlgorithm | HmacAlgorithm

const EC_CURVE_ALGORITHM: Record<string, AsymmetricAlgorithm> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512'
}

/**
 * The algorithms one published key may verify: those its type allows, narrowed by its own `alg`
 * when it names one, and by the configured allow-list. Binding each key to its algorithms is what
 * stops a token from picking an algorithm the key was never meant for.
 */
export function algorithmsForKey (
  jwk: { kty?: unknown, crv?: unknown, alg?: unknown },
  allowed: readonly AsymmetricAlgorithm[]
): AsymmetricAlgorithm[] {
  let byType: AsymmetricAlgorithm[]
  if (jwk.kty === 'RSA') {
    byType = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
  } else if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && Object.hasOwn(EC_CURVE_ALGORITHM, jwk.crv)) {
    // Own properties only: `in` would let a crv such as "toString" through to Object's members.
    byType = [EC_CURVE_ALGORITHM[jwk.crv]]
  } else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    byType = ['EdDSA']
  } else {
    return []
  }
  const named = jwk.alg === undefined ? byType : byType.filter(algorithm => algorithm === jwk.alg)
  return named.filter(algorithm => allowed.includes(algorithm))
}
