import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { algorithmsForKey, type AsymmetricAlgorithm } from '../auth/algorithms.js'
import {
  DpopProofAlgorithm, DpopProofKey, DpopProofMalformed, DpopProofMethod, DpopProofSignature, DpopProofTime,
  DpopProofTokenHash, DpopProofType, DpopProofUrl
} from '../auth/errors.js'
import { keyWeakness } from '../auth/key-strength.js'
import { accessTokenHash } from './proof-signer.js'
import { jwkThumbprint } from './jwk-thumbprint.js'

export interface ProofRules {
  /** The proof algorithms accepted (asymmetric only). */
  readonly algorithms: readonly AsymmetricAlgorithm[]
  /** How old a proof's iat may be, in seconds (RFC 9449 section 11.1: keep it short). */
  readonly maxAgeSeconds: number
  /** How far ahead of our clock a proof's iat may be, in seconds. */
  readonly maxFutureSeconds: number
}

/** How long after it is made a proof can be accepted (its iat may be ahead, then it may age): how long to remember its jti. */
export function proofLifetimeSeconds (rules: Pick<ProofRules, 'maxAgeSeconds' | 'maxFutureSeconds'>): number {
  return rules.maxAgeSeconds + rules.maxFutureSeconds
}

/** What the request a proof came with says, for the proof to match. */
export interface ProofContext {
  readonly method: string
  /** The request's URL without query or fragment, from configuration (PUBLIC_URL), never from its headers. */
  readonly url: string
  /** The access token the proof goes with (at a resource), for `ath`; none at a token endpoint. */
  readonly accessToken?: string
}

/** A proof that passed every check but the replay check, which needs the store. */
export interface CheckedProof {
  /** The proof key's RFC 7638 thumbprint, for the token's cnf.jkt. */
  readonly thumbprint: string
  readonly jti: string
  readonly iat: number
  readonly nonce: string | undefined
}

/** A proof is small: its header holds one public key (an RSA 8192 key is about 1.5 kB). */
const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** RFC 7517/7518 private members: a proof's jwk must be public. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
/** Proof keys verified lately, by their encoded header: a client reuses one key, so its header repeats. */
const KEY_CACHE_SIZE = 1024

/** A proof header whose key has been imported and checked once. */
interface ProofKey {
  readonly algorithm: AsymmetricAlgorithm
  readonly key: KeyObject
  readonly thumbprint: string
}

/**
 * Checks DPoP proofs (RFC 9449 section 4.3) against the request they came with: every step there
 * but the replay check (jti), which the caller makes with the replay store once this passes. Each
 * failure is the rejection naming its step.
 */
export class DpopProofVerifier {
  readonly #rules: ProofRules
  readonly #keys = new Map<string, ProofKey>()

  constructor (rules: ProofRules) {
    this.#rules = rules
  }

  check (proof: string, context: ProofContext, now = Date.now()): CheckedProof {
    if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) throw new DpopProofMalformed()
    const [encodedHeader, encodedPayload, signature] = proof.split('.')
    const { algorithm, key, thumbprint } = this.#proofKey(encodedHeader)
    if (!verifySignature(algorithm, key, `${encodedHeader}.${encodedPayload}`, signature)) throw new DpopProofSignature()
    const claims = proofClaims(encodedPayload)
    if (claims.htm !== context.method) throw new DpopProofMethod()
    if (!sameUrl(claims.htu, context.url)) throw new DpopProofUrl()
    const nowSeconds = now / 1000
    if (claims.iat < nowSeconds - this.#rules.maxAgeSeconds || claims.iat > nowSeconds + this.#rules.maxFutureSeconds) throw new DpopProofTime()
    if (context.accessToken !== undefined && claims.ath !== accessTokenHash(context.accessToken)) throw new DpopProofTokenHash()
    return { thumbprint, jti: claims.jti, iat: claims.iat, nonce: claims.nonce }
  }

  /** The header's key, checked and imported once per distinct header. */
  #proofKey (encodedHeader: string): ProofKey {
    let found = this.#keys.get(encodedHeader)
    if (found === undefined) {
      found = this.#importKey(encodedHeader)
      if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value as string)
      this.#keys.set(encodedHeader, found)
    }
    return found
  }

  #importKey (encodedHeader: string): ProofKey {
    const header = parseSegment(encodedHeader)
    const { typ, alg, jwk } = header
    if (typeof alg !== 'string' || typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new DpopProofMalformed()
    if (typ !== 'dpop+jwt') throw new DpopProofType()
    if (!(this.#rules.algorithms as readonly string[]).includes(alg)) throw new DpopProofAlgorithm()
    const publicJwk = jwk as Record<string, unknown>
    if (PRIVATE_MEMBERS.some(member => Object.hasOwn(publicJwk, member))) throw new DpopProofKey()
    if (!algorithmsForKey(publicJwk, this.#rules.algorithms).includes(alg as AsymmetricAlgorithm)) throw new DpopProofKey()
    const thumbprint = jwkThumbprint(publicJwk)
    if (thumbprint === undefined) throw new DpopProofKey()
    let key: KeyObject
    try {
      key = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' })
    } catch {
      throw new DpopProofKey()
    }
    if (keyWeakness(key) !== undefined) throw new DpopProofKey()
    return { algorithm: alg as AsymmetricAlgorithm, key, thumbprint }
  }
}

interface ProofClaims {
  jti: string
  htm: string
  htu: string
  iat: number
  ath: unknown
  nonce: string | undefined
}

function proofClaims (encodedPayload: string): ProofClaims {
  const { jti, htm, htu, iat, ath, nonce } = parseSegment(encodedPayload)
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH ||
    typeof htm !== 'string' || typeof htu !== 'string' || typeof iat !== 'number' || !Number.isFinite(iat) ||
    (nonce !== undefined && typeof nonce !== 'string')) {
    throw new DpopProofMalformed()
  }
  return { jti, htm, htu, iat, ath, nonce }
}

function parseSegment (segment: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(segment, 'base64url').toString())
  } catch {
    throw new DpopProofMalformed()
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DpopProofMalformed()
  return parsed as Record<string, unknown>
}

const HASH_OF: Record<AsymmetricAlgorithm, string | null> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
  EdDSA: null
}

/** RFC 7518: ECDSA signatures are r || s (not DER); PSS salts are as long as the hash. */
function verifySignature (algorithm: AsymmetricAlgorithm, key: KeyObject, signingInput: string, signature: string): boolean {
  const hash = HASH_OF[algorithm]
  const options = algorithm.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(algorithm.slice(2)) / 8 }
    : { key, dsaEncoding: 'ieee-p1363' as const }
  return verify(hash, Buffer.from(signingInput), options, Buffer.from(signature, 'base64url'))
}

/**
 * htu against the request's URL, both without query and fragment, compared after the syntax-based
 * normalisation RFC 9449 section 4.3 allows (scheme and host case, default port, dot segments).
 */
function sameUrl (htu: string, expected: string): boolean {
  return normalisedUrl(htu) === expected
}

let lastHtu = ''
let lastNormalised: string | undefined

/** `origin + path` of an absolute http(s) URL without credentials, or undefined. */
export function normalisedUrl (url: string): string | undefined {
  if (url === lastHtu) return lastNormalised
  let normalised: string | undefined
  if (URL.canParse(url)) {
    const parsed = new URL(url)
    const usable = (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.username === '' && parsed.password === ''
    normalised = usable ? `${parsed.origin}${parsed.pathname}` : undefined
  }
  lastHtu = url
  lastNormalised = normalised
  return normalised
}
