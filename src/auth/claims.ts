import {
  InvalidClaim, MissingClaim, MissingIssuedAt, MissingProfileClaim, TokenExpired, TokenNotYetValid, TokenTooOld,
  UnsupportedConfirmation, WrongAudience
} from './errors.js'
import { grantedScopes, type ReadonlyScopeSet } from './scopes.js'

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
  client_id?: string
  [claim: string]: unknown
}

/** What the claims of an issuer's tokens must satisfy (its iss is checked first, by the allow-list). */
export interface ClaimsPolicy {
  audiences: readonly string[]
  clockToleranceMs: number
  /** Refuse tokens whose iat is older than this, or missing. */
  maxTokenAgeMs: number | undefined
  /** RFC 9068 section 2.2: iat, sub, client_id and jti are required. */
  strictRfc9068: boolean
}

/**
 * A token that passed every check. Only checkClaims makes these, once the signature is verified,
 * so callers accept on `instanceof VerifiedToken` (a positive proof), not on "not a rejection".
 */
export class VerifiedToken {
  constructor (
    readonly claims: AccessTokenClaims,
    readonly scopes: ReadonlySet<string>,
    readonly issuer: string,
    /** The key that verified it; empty for an issuer's shared secret. */
    readonly kid: string,
    /** Epoch ms after which the token is refused: its exp with the clock tolerance, or its age limit. */
    readonly expiresAt: number,
    /** What the token is bound to (its `cnf`): a DPoP key, a client certificate, or nothing (a bearer token). */
    readonly binding: TokenBinding
  ) {}
}

/** RFC 9449 section 6.1 and RFC 8705 section 3.1: the thumbprints a sender-constrained token names. */
export interface TokenBinding {
  /** `cnf.jkt`: the SHA-256 thumbprint of the DPoP key every request's proof must be signed with. */
  readonly jkt: string | undefined
  /** `cnf["x5t#S256"]`: the SHA-256 thumbprint of the client certificate it must come with. */
  readonly certificateThumbprint: string | undefined
}

const UNBOUND: TokenBinding = Object.freeze({ jkt: undefined, certificateThumbprint: undefined })
/** A base64url SHA-256 digest: 43 characters, no padding. */
const SHA256_THUMBPRINT = /^[A-Za-z0-9_-]{43}$/
const CONFIRMATION_METHODS = ['jkt', 'x5t#S256']

const REQUIRED_CLAIMS = ['exp', 'iss', 'aud'] as const
const RFC9068_CLAIMS = ['iat', 'sub', 'client_id', 'jti'] as const
/** The largest time a Date can hold, in ms either side of the epoch (ECMA-262, 21.4.1.1). */
const MAX_DATE_MS = 8.64e15
/** The optional claims AccessTokenClaims declares, with the type it promises route handlers. */
const DECLARED_CLAIM_TYPES: ReadonlyArray<[string, 'string' | 'number']> = [
  ['sub', 'string'], ['iat', 'number'], ['azp', 'string'], ['gty', 'string'], ['jti', 'string'], ['client_id', 'string']
]

/**
 * Every claim rule, in the order they are applied, on the claims of a token whose signature has
 * been verified by a key of `issuer` (whose iss matched the allow-list). Throws the rejection of
 * the first rule that fails. The claims become read-only: a verified token is cached and shared
 * by every request that sends it.
 */
export function checkClaims (claims: Record<string, unknown>, issuer: string, kid: string, policy: ClaimsPolicy, now = Date.now()): VerifiedToken {
  checkRequired(claims, REQUIRED_CLAIMS, MissingClaim)
  if (policy.strictRfc9068) checkRequired(claims, RFC9068_CLAIMS, MissingProfileClaim)
  checkNotBefore(claims.nbf, policy.clockToleranceMs, now)
  let expiresAt = checkExpiry(claims.exp, policy.clockToleranceMs, now)
  checkAudience(claims.aud, policy.audiences)
  checkDeclaredTypes(claims, policy.clockToleranceMs)
  if (policy.maxTokenAgeMs !== undefined) expiresAt = Math.min(expiresAt, checkAge(claims.iat, policy.maxTokenAgeMs, now))
  let scopes: ReadonlyScopeSet
  try {
    scopes = grantedScopes(claims)
  } catch {
    throw new InvalidClaim()
  }
  const binding = bindingOf(claims.cnf)
  deepFreeze(claims)
  return new VerifiedToken(claims as AccessTokenClaims, scopes, issuer, kid, expiresAt, binding)
}

/**
 * The token's `cnf`: absent, or an object naming a DPoP key (jkt), a certificate (x5t#S256), or
 * both, as SHA-256 thumbprints. Any other confirmation method (jwk, jku, kid...) is one this API
 * cannot check, so the token is refused rather than taken as a bearer token.
 */
function bindingOf (cnf: unknown): TokenBinding {
  if (cnf === undefined) return UNBOUND
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new InvalidClaim()
  const members = Object.keys(cnf)
  if (members.length === 0 || !members.every(member => CONFIRMATION_METHODS.includes(member))) throw new UnsupportedConfirmation()
  const { jkt, 'x5t#S256': certificateThumbprint } = cnf as Record<string, unknown>
  for (const thumbprint of [jkt, certificateThumbprint]) {
    if (thumbprint !== undefined && (typeof thumbprint !== 'string' || !SHA256_THUMBPRINT.test(thumbprint))) throw new InvalidClaim()
  }
  return Object.freeze({ jkt: jkt as string | undefined, certificateThumbprint: certificateThumbprint as string | undefined })
}

function checkRequired (claims: Record<string, unknown>, required: readonly string[], Rejection: new () => Error): void {
  for (const claim of required) {
    if (!(claim in claims)) throw new Rejection()
  }
}

/** nbf, when present, must have passed (less the clock tolerance). Not yet valid is no lasting verdict. */
function checkNotBefore (nbf: unknown, toleranceMs: number, now: number): void {
  if (nbf === undefined) return
  if (!isNumericDate(nbf, toleranceMs)) throw new InvalidClaim()
  if (now < nbf * 1000 - toleranceMs) throw new TokenNotYetValid()
}

/** exp must not have passed (plus the clock tolerance); returns the moment it does, in epoch ms. */
function checkExpiry (exp: unknown, toleranceMs: number, now: number): number {
  if (!isNumericDate(exp, toleranceMs)) throw new InvalidClaim()
  const expiresAt = exp * 1000 + toleranceMs
  if (now > expiresAt) throw new TokenExpired()
  return expiresAt
}

/** aud is one string or an array of strings, and at least one of them is an audience of this API. */
function checkAudience (aud: unknown, audiences: readonly string[]): void {
  const values = Array.isArray(aud) ? aud as unknown[] : [aud]
  if (!values.every(value => typeof value === 'string')) throw new InvalidClaim()
  if (!values.some(value => audiences.includes(value as string))) throw new WrongAudience()
}

/** MAX_TOKEN_AGE: iat is required and no older than the limit; returns when the token becomes too old. */
function checkAge (iat: unknown, maxAgeMs: number, now: number): number {
  if (iat === undefined) throw new MissingIssuedAt()
  const tooOldAt = (iat as number) * 1000 + maxAgeMs
  if (now > tooOldAt) throw new TokenTooOld()
  return tooOldAt
}

/** Route handlers trust the types AccessTokenClaims declares; a time no Date can hold is no NumericDate. */
function checkDeclaredTypes (claims: Record<string, unknown>, toleranceMs: number): void {
  for (const [claim, type] of DECLARED_CLAIM_TYPES) {
    if (claims[claim] !== undefined && typeof claims[claim] !== type) throw new InvalidClaim()
  }
  if (claims.iat !== undefined && !isNumericDate(claims.iat, toleranceMs)) throw new InvalidClaim()
}

/** A number of seconds that, moved by the clock tolerance, a Date can still hold (exp 1e400 parses as Infinity). */
function isNumericDate (value: unknown, toleranceMs: number): value is number {
  return typeof value === 'number' && Math.abs(value * 1000) + toleranceMs <= MAX_DATE_MS
}

/** Claims are parsed JSON: objects and arrays all the way down. */
function deepFreeze (value: unknown): void {
  if (typeof value !== 'object' || value === null) return
  Object.freeze(value)
  for (const child of Object.values(value)) deepFreeze(child)
}
