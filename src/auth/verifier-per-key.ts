import { createVerifier, type VerifierOptions } from 'fast-jwt'
import type { IssuerKey } from './jwks.js'
import type { AccessTokenClaims, VerifySignature } from './token-verifier.js'

/**
 * One fast-jwt verifier per issuer key, built the first time the key is used and dropped with it.
 * Building a verifier parses the key, which costs several RSA verifications: doing it per token
 * (as `fastify.jwt.verify(token, { key })` does) would dominate every uncached verification.
 * `policy` is the same verify policy @fastify/jwt is registered with, so both paths agree.
 */
export function verifierPerKey (policy: Partial<VerifierOptions>): VerifySignature {
  const verifiers = new WeakMap<IssuerKey, (token: string) => AccessTokenClaims>()
  return (token, key) => {
    let verify = verifiers.get(key)
    if (verify === undefined) {
      verify = createVerifier({ ...policy, key: key.pem, algorithms: key.algorithms, complete: false }) as (token: string) => AccessTokenClaims
      verifiers.set(key, verify)
    }
    return verify(token)
  }
}
