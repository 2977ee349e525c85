import { constants, createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { jwkThumbprint } from './jwk-thumbprint.js'

/** The algorithms a proof key can be made for here; ES256 is what Auth0 and most clients use. */
export type ProofAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'PS256' | 'RS256'

export interface ProofClaims {
  /** The HTTP method of the request the proof goes with. */
  readonly htm: string
  /** Its URL, without query and fragment. */
  readonly htu: string
  /** The access token sent with it; omitted at the token endpoint. */
  readonly accessToken?: string
  /** The server's last `DPoP-Nonce`, when it asked for one. */
  readonly nonce?: string
}

/**
 * A caller's DPoP key pair and the proofs it signs (RFC 9449 section 4.2): one per request, each
 * with a fresh `jti`. Used by the token client, the command-line tools and the tests.
 */
export class DpopProofSigner {
  readonly algorithm: ProofAlgorithm
  /** The public key as it goes in every proof's header. */
  readonly publicJwk: Readonly<Record<string, string>>
  /** Its RFC 7638 thumbprint: the `cnf.jkt` a token bound to this key carries. */
  readonly thumbprint: string
  readonly #privateKey: KeyObject
  readonly #encodedHeader: string

  constructor (algorithm: ProofAlgorithm = 'ES256', privateKey: KeyObject = newKey(algorithm)) {
    this.algorithm = algorithm
    this.#privateKey = privateKey
    const { kty, crv, x, y, n, e } = privateKey.export({ format: 'jwk' }) as Record<string, string>
    const publicJwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined))
    this.publicJwk = Object.freeze(publicJwk)
    this.thumbprint = jwkThumbprint(publicJwk) as string
    this.#encodedHeader = encode({ typ: 'dpop+jwt', alg: algorithm, jwk: publicJwk })
  }

  /** A new proof for one request. `iat` and `jti` may be set, for tests that need an old or repeated proof. */
  proof (claims: ProofClaims, { iat = Math.floor(Date.now() / 1000), jti = randomUUID() }: { iat?: number, jti?: string } = {}): string {
    const payload: Record<string, unknown> = { jti, htm: claims.htm, htu: claims.htu, iat }
    if (claims.accessToken !== undefined) payload.ath = accessTokenHash(claims.accessToken)
    if (claims.nonce !== undefined) payload.nonce = claims.nonce
    const signingInput = `${this.#encodedHeader}.${encode(payload)}`
    return `${signingInput}.${signProof(this.algorithm, this.#privateKey, signingInput)}`
  }
}

/** `ath`: the base64url SHA-256 of the access token's ASCII characters (RFC 9449 section 4.2). */
export function accessTokenHash (accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

function encode (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

const HASH: Record<ProofAlgorithm, string | null> = {
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', EdDSA: null, PS256: 'sha256', RS256: 'sha256'
}

function signProof (algorithm: ProofAlgorithm, key: KeyObject, signingInput: string): string {
  const options = algorithm === 'PS256'
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
    : { key, dsaEncoding: 'ieee-p1363' as const }
  return sign(HASH[algorithm], Buffer.from(signingInput), options).toString('base64url')
}

function newKey (algorithm: ProofAlgorithm): KeyObject {
  if (algorithm === 'EdDSA') return generateKeyPairSync('ed25519').privateKey
  if (algorithm === 'PS256' || algorithm === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[algorithm]
  return generateKeyPairSync('ec', { namedCurve }).privateKey
}
