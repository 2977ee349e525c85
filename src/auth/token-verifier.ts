import { TokenError } from 'fast-jwt'
import type { AsymmetricAlgorithm } from './algorithms.js'
import {
  AlgorithmNotAllowed, AuthRejection, InvalidClaim, InvalidSignature, MalformedToken, MissingClaim, TokenExpired,
  TokenNotYetValid, UnsupportedCritical, UnsupportedTokenHeader, WrongAudience, WrongIssuer
} from './errors.js'
import type { IssuerKey } from './jwks.js'
import { grantedScopes, type ReadonlyScopeSet } from './scopes.js'
import { BoundedCache, SecondSighting } from './token-cache.js'

/** The claims of an access token we accept; exp, iss and aud are always present and checked. */
export interface AccessTokenClaims {
  iss: string
  aud: string | string[]
  exp: number
  sub?: string
  iat?: number
  nbf?: number
  scope?: string
  permissions?: string[]
  scp?: string | string[]
  azp?: string
  gty?: string
  jti?: string
  [claim: string]: unknown
}

/**
 * A token that passed every check. Only the verifier makes these, so callers accept on
 * `instanceof VerifiedToken` (a positive proof) rather than on "not a rejection".
 */
export class VerifiedToken {
  constructor (
    readonly claims: AccessTokenClaims,
    readonly scopes: ReadonlySet<string>,
    readonly kid: string,
    /** Epoch ms after which the token is expired, clock tolerance included. */
    readonly expiresAt: number
  ) {}
}

/**
 * What verify() decides: the verified token, or the rejection that refuses it. Rejections are
 * returned, not thrown: a flood of one bad token is answered from memory, and a throw would cost
 * more than everything else on that path.
 */
export type Verdict = VerifiedToken | AuthRejection

/** Checks signature and registered claims with one issuer key; throws fast-jwt's TokenError. */
export type VerifySignature = (token: string, key: IssuerKey) => AccessTokenClaims

/** How often verify() was answered from the verified-token cache, since the verifier was made. */
export interface TokenCacheStats {
  hits: number
  misses: number
}

export interface TokenVerifierOptions {
  keys: { get: (kid: string) => IssuerKey | Promise<IssuerKey> }
  verifySignature: VerifySignature
  issuer: string
  audiences: readonly string[]
  algorithms: readonly AsymmetricAlgorithm[]
  clockToleranceSeconds: number
  /** Verified tokens kept; 0 turns both caches off. */
  cacheSize: number
}

/** Far above any real access token, far below what would make parsing costly. */
export const MAX_TOKEN_LENGTH = 8192
const MAX_KID_LENGTH = 256
/** The largest time a Date can hold, in ms either side of the epoch (ECMA-262, 21.4.1.1). */
const MAX_DATE_MS = 8.64e15
/** Rejections are small to recompute; keep few so junk tokens cannot hold much memory. */
const MAX_REMEMBERED_REJECTIONS = 1024
/** JWS compact serialization with a non-empty signature; JWE (5 parts) and unsigned tokens fail here. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** fast-jwt's error codes, mapped to our causes. Claim-value failures are told apart afterwards. */
const REJECTION_FOR_CODE: Record<string, new () => AuthRejection> = {
  [TokenError.codes.malformed]: MalformedToken,
  [TokenError.codes.invalidPayload]: MalformedToken,
  [TokenError.codes.invalidType]: MalformedToken,
  [TokenError.codes.invalidAlgorithm]: AlgorithmNotAllowed,
  [TokenError.codes.invalidSignature]: InvalidSignature,
  [TokenError.codes.missingSignature]: InvalidSignature,
  [TokenError.codes.verifyError]: InvalidSignature,
  [TokenError.codes.expired]: TokenExpired,
  [TokenError.codes.inactive]: TokenNotYetValid,
  [TokenError.codes.missingRequiredClaim]: MissingClaim,
  [TokenError.codes.invalidClaimType]: InvalidClaim,
  [TokenError.codes.invalidCritHeader]: UnsupportedCritical
}

/**
 * Turns a bearer token into verified claims, or a rejection. A token verified a second time is
 * remembered until it expires, and repeated bad tokens are refused from memory, so the common
 * cases cost one map lookup. Only verdicts that cannot change with time are remembered: a token
 * that is not valid yet is checked again, and every verdict tied to a key is forgotten when that
 * key leaves the set.
 */
export class TokenVerifier {
  readonly #options: TokenVerifierOptions
  readonly #verified: BoundedCache<VerifiedToken>
  readonly #admission: SecondSighting
  readonly #rejected: BoundedCache<AuthRejection>
  readonly #toleranceMs: number
  // Plain counters, read when metrics are scraped: one increment per call, nothing allocated.
  #hits = 0
  #misses = 0

  constructor (options: TokenVerifierOptions) {
    this.#options = options
    this.#verified = new BoundedCache(options.cacheSize)
    this.#admission = new SecondSighting(options.cacheSize)
    this.#rejected = new BoundedCache(Math.min(options.cacheSize, MAX_REMEMBERED_REJECTIONS))
    this.#toleranceMs = options.clockToleranceSeconds * 1000
  }

  /**
   * Synchronous for cached verdicts and known keys; a promise while a key is fetched. Never
   * throws: a failure that is no verdict on the token (a bug) comes back as a rejected promise.
   */
  verify (token: string): Verdict | Promise<Verdict> {
    return this.known(token) ?? this.#check(token)
  }

  /** The verdict remembered for this token, if any: verified and unexpired, or refused. */
  known (token: string): Verdict | undefined {
    const known = this.#verified.get(token)
    if (known !== undefined) {
      if (known.expiresAt > Date.now()) {
        this.#hits++
        return known
      }
      this.#verified.delete(token)
    }
    const rejection = this.#rejected.get(token)
    if (rejection !== undefined) this.#misses++
    return rejection
  }

  /** The full check, for a token with no remembered verdict. */
  #check (token: string): Verdict | Promise<Verdict> {
    this.#misses++
    // The checks below throw their rejections, returned here as verdicts (a bug as a rejected promise).
    try {
      const { alg, kid } = this.#readHeader(token)
      const key = this.#options.keys.get(kid)
      return key instanceof Promise
        ? key.then(loaded => this.#verifyWith(token, alg, loaded)).catch(asVerdict)
        : this.#verifyWith(token, alg, key)
    } catch (error) {
      return asVerdict(error)
    }
  }

  /** Verified-token cache hits and misses so far (a miss is any call the cache did not answer). */
  cacheStats (): TokenCacheStats {
    return { hits: this.#hits, misses: this.#misses }
  }

  /** Forgets every verdict reached with these keys: their tokens must be checked again. */
  retire (kids: readonly string[]): void {
    const retired = new Set(kids)
    this.#verified.deleteWhere(entry => retired.has(entry.kid))
    this.#rejected.clear()
  }

  /** Cheap checks before any key lookup, so junk never reaches the key set or the crypto. */
  #readHeader (token: string): { alg: string, kid: string } {
    if (token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token) || !token.split('.').every(isCanonicalBase64url)) {
      throw this.#remember(token, new MalformedToken())
    }
    const header = decodeSegment(token, 0)
    if (header === undefined) throw this.#remember(token, new MalformedToken())
    const { alg, kid } = header
    if (typeof alg !== 'string' || !(this.#options.algorithms as readonly string[]).includes(alg)) {
      throw this.#remember(token, new AlgorithmNotAllowed())
    }
    if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) {
      throw this.#remember(token, new UnsupportedTokenHeader())
    }
    // We understand no critical extension (RFC 7515, 4.1.11), so any crit member makes the token
    // invalid. fast-jwt checks crit too, but lets a falsy one (null, false, 0, "") through as absent.
    if (Object.hasOwn(header, 'crit')) throw this.#remember(token, new UnsupportedCritical())
    return { alg, kid }
  }

  #verifyWith (token: string, alg: string, key: IssuerKey): VerifiedToken {
    if (!(key.algorithms as readonly string[]).includes(alg)) throw this.#remember(token, new AlgorithmNotAllowed())
    let claims: AccessTokenClaims
    try {
      claims = this.#options.verifySignature(token, key)
    } catch (error) {
      throw this.#rejectionFor(token, error)
    }
    let scopes: ReadonlyScopeSet
    try {
      scopes = grantedScopes(claims)
    } catch {
      throw this.#remember(token, new InvalidClaim())
    }
    // fast-jwt only checks the claims it was asked to; route handlers trust AccessTokenClaims.
    // A time no Date can hold (exp 1e400 parses as Infinity) is no NumericDate either.
    if (!hasDeclaredClaimTypes(claims) || this.#hasUnrepresentableDate(claims)) {
      throw this.#remember(token, new InvalidClaim())
    }
    // Shared by every request that sends this token (the cache): no handler may change them.
    deepFreeze(claims)
    const verified = new VerifiedToken(claims, scopes, key.kid, claims.exp * 1000 + this.#toleranceMs)
    if (this.#admission.admit(token)) this.#verified.set(token, verified)
    return verified
  }

  #rejectionFor (token: string, error: unknown): unknown {
    const code = (error as { code?: unknown } | null)?.code
    if (code === TokenError.codes.invalidClaimValue) return this.#remember(token, this.#claimValueRejection(token))
    const Rejection = typeof code === 'string' ? REJECTION_FOR_CODE[code] : undefined
    if (Rejection === undefined) {
      // fast-jwt words a failed exp or nbf check with Date#toISOString, which throws a RangeError
      // for a time no Date can hold (exp -1e20, nbf 1e400): a bad claim in a signed token, not a bug.
      if (error instanceof RangeError && this.#hasUnrepresentableDate(decodeSegment(token, 1))) {
        return this.#remember(token, new InvalidClaim())
      }
      // Not ours to judge (a bug, not a bad token): let the error handler log it as a 500.
      return error
    }
    // Time will make a not-yet-valid token valid: never remember that verdict.
    if (Rejection === TokenNotYetValid) return new Rejection()
    return this.#remember(token, new Rejection())
  }

  /** fast-jwt reports a wrong iss and a wrong aud alike; tell them apart from the claims. */
  #claimValueRejection (token: string): AuthRejection {
    const claims = decodeSegment(token, 1)
    if (claims?.iss !== this.#options.issuer) return new WrongIssuer()
    const audiences: unknown[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (!audiences.some(aud => this.#options.audiences.includes(aud as string))) return new WrongAudience()
    return new InvalidClaim()
  }

  /** An exp, nbf or iat that, moved by the clock tolerance, falls outside the range of a Date. */
  #hasUnrepresentableDate (claims: Record<string, unknown> | undefined): boolean {
    return [claims?.exp, claims?.nbf, claims?.iat].some(value =>
      typeof value === 'number' && !(Math.abs(value * 1000) + this.#toleranceMs <= MAX_DATE_MS))
  }

  #remember (token: string, rejection: AuthRejection): AuthRejection {
    this.#rejected.set(token, rejection)
    return rejection
  }
}

/** A thrown rejection as a verdict; anything else (a bug) as a rejected promise, never a throw. */
function asVerdict (error: unknown): AuthRejection | Promise<never> {
  return error instanceof AuthRejection ? error : Promise.reject(error)
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

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The optional claims AccessTokenClaims declares, with the type it promises route handlers. */
const DECLARED_CLAIM_TYPES: ReadonlyArray<[string, 'string' | 'number']> = [
  ['sub', 'string'], ['iat', 'number'], ['azp', 'string'], ['gty', 'string'], ['jti', 'string']
]

function hasDeclaredClaimTypes (claims: AccessTokenClaims): boolean {
  return DECLARED_CLAIM_TYPES.every(([claim, type]) => claims[claim] === undefined || typeof claims[claim] === type)
}

/** Claims are parsed JSON: objects and arrays all the way down. */
function deepFreeze (value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  Object.freeze(value)
  for (const child of Object.values(value)) deepFreeze(child)
}

/** A JSON object from one base64url segment of a compact JWS, or undefined. */
function decodeSegment (token: string, index: 0 | 1): Record<string, unknown> | undefined {
  const segment = token.split('.', 2)[index]
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
