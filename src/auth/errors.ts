import createError from '@fastify/error'
import { errorBody } from '../error-body.js'

/**
 * The error a rejection reports in `WWW-Authenticate` (`missing`: no error attribute at all): RFC
 * 6750's, and RFC 9449's two for DPoP proofs.
 */
export type ChallengeKind = 'missing' | 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'unavailable' |
  'invalid_dpop_proof' | 'use_dpop_nonce'

/**
 * Base of every rejection the auth layer makes, so one error handler can recognise them. Members
 * are only declared: @fastify/error builds instances without running this constructor, so a field
 * initializer here would never run (and left the class uncovered).
 */
export class AuthRejection extends Error {
  declare code: string
  declare statusCode: number
  /** The full `WWW-Authenticate` value for a Bearer-only API; set per class, or per instance for scope failures. */
  declare challenge: string
  /** The challenge's error, its description (the message) and scope: what the DPoP challenge says too. */
  declare kind: ChallengeKind
  declare scope?: string
  /** Seconds a client should wait before retrying, for 503s. */
  declare retryAfter?: number
  /** The JSON response body, serialized once per class (or per route for scope failures). */
  declare body: string
}

/** The response body of a rejection, serialized once when the rejection is defined. */
export function serializedBody (rejection: { statusCode: number, code: string, message: string }): string {
  return JSON.stringify(errorBody(rejection.statusCode, rejection.code, rejection.message))
}

export const REALM = 'api'

/** RFC 6750 section 3: error_description and scope values are printable ASCII without `"` or `\`. */
const ATTRIBUTE_VALUE = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/

/** Builds a `WWW-Authenticate` value. Values are ours and fixed when built, so check them then. */
export function bearerChallenge (kind: ChallengeKind, description: string, scope?: string): string {
  return challenge('Bearer', kind, description, scope)
}

/** A `WWW-Authenticate` challenge of either scheme; DPoP's also lists the proof algorithms it takes (`algs`). */
export function challenge (scheme: 'Bearer' | 'DPoP', kind: ChallengeKind, description: string, scope?: string, algs?: string): string {
  let value = `${scheme} realm="${REALM}"`
  if (kind !== 'missing' && kind !== 'unavailable') value += errorAttributes(kind, description, scope)
  return algs === undefined ? value : `${value}, algs="${algs}"`
}

function errorAttributes (kind: ChallengeKind, description: string, scope?: string): string {
  for (const attribute of [description, scope ?? '']) {
    if (!ATTRIBUTE_VALUE.test(attribute)) throw new TypeError(`not a valid WWW-Authenticate attribute value: ${attribute}`)
  }
  let value = `, error="${kind}", error_description="${description}"`
  if (scope !== undefined) value += `, scope="${scope}"`
  return value
}

type RejectionClass = new (...details: string[]) => AuthRejection

/** @fastify/error types its Base as ErrorConstructor only; ours is an Error subclass all the same. */
function rejectionClass (code: string, message: string, statusCode: number): RejectionClass & { prototype: AuthRejection } {
  return createError(code, message, statusCode, AuthRejection as unknown as ErrorConstructor, false) as unknown as
    RejectionClass & { prototype: AuthRejection }
}

/**
 * One class per cause: a stable code, a status and a message that says what is wrong without
 * echoing the token. No stack traces: these are expected outcomes, made on hot paths.
 */
function define (code: string, statusCode: number, kind: ChallengeKind, message: string): RejectionClass {
  const Rejection = rejectionClass(code, message, statusCode)
  Rejection.prototype.challenge = bearerChallenge(kind, message)
  Rejection.prototype.kind = kind
  Rejection.prototype.body = serializedBody({ statusCode, code, message })
  return Rejection
}

export const MissingToken = define('AUTH_MISSING_TOKEN', 401, 'missing',
  'An access token is required: send it in the Authorization header as Bearer <token>')
export const MalformedAuthorization = define('AUTH_MALFORMED_AUTHORIZATION', 400, 'invalid_request',
  'The Authorization header is malformed: expected a scheme and a token, as in Bearer <token>')
export const DuplicateToken = define('AUTH_DUPLICATE_TOKEN', 400, 'invalid_request',
  'The access token must be sent exactly once, in a single Authorization header')
export const TokenInQuery = define('AUTH_TOKEN_IN_QUERY', 400, 'invalid_request',
  'Access tokens are not accepted in the URL: send it in the Authorization header')
export const MalformedToken = define('AUTH_TOKEN_MALFORMED', 401, 'invalid_token',
  'The access token is not a well-formed signed JWT')
export const UnsupportedTokenHeader = define('AUTH_TOKEN_HEADER_UNSUPPORTED', 401, 'invalid_token',
  'The access token header is not acceptable')
export const AlgorithmNotAllowed = define('AUTH_ALGORITHM_NOT_ALLOWED', 401, 'invalid_token',
  'The access token is signed with an algorithm that is not allowed')
export const UnknownKey = define('AUTH_UNKNOWN_KEY', 401, 'invalid_token',
  'The access token is signed with a key the issuer does not publish')
export const InvalidSignature = define('AUTH_INVALID_SIGNATURE', 401, 'invalid_token',
  'The access token signature is invalid')
export const TokenExpired = define('AUTH_TOKEN_EXPIRED', 401, 'invalid_token',
  'The access token expired')
export const TokenNotYetValid = define('AUTH_TOKEN_NOT_YET_VALID', 401, 'invalid_token',
  'The access token is not valid yet')
export const WrongIssuer = define('AUTH_WRONG_ISSUER', 401, 'invalid_token',
  'The access token was issued by an issuer this API does not trust')
export const WrongAudience = define('AUTH_WRONG_AUDIENCE', 401, 'invalid_token',
  'The access token is not intended for this API (audience mismatch)')
export const MissingClaim = define('AUTH_MISSING_CLAIM', 401, 'invalid_token',
  'The access token lacks a required claim (exp, iss and aud are required)')
export const InvalidClaim = define('AUTH_INVALID_CLAIM', 401, 'invalid_token',
  'The access token has a claim of the wrong type or value')
export const UnsupportedCritical = define('AUTH_UNSUPPORTED_CRITICAL_HEADER', 401, 'invalid_token',
  'The access token requires a critical header extension this API does not support')
export const WrongTokenType = define('AUTH_WRONG_TOKEN_TYPE', 401, 'invalid_token',
  'The access token is not typed as an access token (typ at+jwt, RFC 9068)')
export const MissingProfileClaim = define('AUTH_MISSING_CLAIM', 401, 'invalid_token',
  'The access token lacks a claim RFC 9068 requires (iat, sub, client_id and jti)')
export const MissingIssuedAt = define('AUTH_MISSING_CLAIM', 401, 'invalid_token',
  'The access token lacks the iat claim this API requires to know its age')
export const TokenTooOld = define('AUTH_TOKEN_TOO_OLD', 401, 'invalid_token',
  'The access token was issued longer ago than this API accepts')
export const KeysUnavailable = define('AUTH_KEYS_UNAVAILABLE', 503, 'unavailable',
  'The issuer\'s signing keys could not be loaded, so the token cannot be verified now; retry later')

/** Made once per claim rule of a route, naming the claim (never its value) in the challenge. */
export const ClaimMismatch = rejectionClass('AUTH_CLAIM_MISMATCH',
  'The access token %s claim does not satisfy what this route requires', 401)

/** Made once per route that declares scopes, with that route's scopes in its challenge. */
export const InsufficientScope = rejectionClass('AUTH_INSUFFICIENT_SCOPE',
  'The access token does not have the required scope (%s)', 403)

/** The request names a scheme's credentials wrongly for this route's DPoP mode, or misuses a bound token. */
export const DpopRequired = define('AUTH_DPOP_REQUIRED', 401, 'invalid_token',
  'This API requires a DPoP-bound access token: send Authorization: DPoP <token> with a DPoP proof')
export const BoundTokenAsBearer = define('AUTH_DPOP_BOUND_TOKEN_AS_BEARER', 401, 'invalid_token',
  'The access token is DPoP-bound: send it as Authorization: DPoP <token> with a DPoP proof')
export const TokenNotDpopBound = define('AUTH_TOKEN_NOT_DPOP_BOUND', 401, 'invalid_token',
  'The access token is not DPoP-bound (no cnf.jkt): send it as Bearer')
export const DpopKeyMismatch = define('AUTH_DPOP_KEY_MISMATCH', 401, 'invalid_token',
  'The DPoP proof is signed with a key other than the one the access token is bound to')

/** RFC 9449 section 4.3: the proof, checked in the order of the steps listed there. */
export const DpopProofMissing = define('AUTH_DPOP_PROOF_MISSING', 401, 'invalid_dpop_proof',
  'A DPoP proof is required with a DPoP access token: send exactly one DPoP header')
export const DpopProofDuplicate = define('AUTH_DPOP_PROOF_DUPLICATE', 400, 'invalid_request',
  'The DPoP proof must be sent exactly once, in a single DPoP header')
export const DpopProofMalformed = define('AUTH_DPOP_PROOF_MALFORMED', 401, 'invalid_dpop_proof',
  'The DPoP proof is not a well-formed signed JWT with typ, alg and jwk, and jti, htm, htu and iat')
export const DpopProofType = define('AUTH_DPOP_PROOF_TYPE', 401, 'invalid_dpop_proof',
  'The DPoP proof is not typed dpop+jwt')
export const DpopProofAlgorithm = define('AUTH_DPOP_PROOF_ALGORITHM', 401, 'invalid_dpop_proof',
  'The DPoP proof is signed with an algorithm this API does not accept')
export const DpopProofKey = define('AUTH_DPOP_PROOF_KEY', 401, 'invalid_dpop_proof',
  'The DPoP proof jwk is not an acceptable public key for its algorithm')
export const DpopProofSignature = define('AUTH_DPOP_PROOF_SIGNATURE', 401, 'invalid_dpop_proof',
  'The DPoP proof signature is invalid')
export const DpopProofMethod = define('AUTH_DPOP_PROOF_METHOD', 401, 'invalid_dpop_proof',
  'The DPoP proof htm is not the method of this request')
export const DpopProofUrl = define('AUTH_DPOP_PROOF_URL', 401, 'invalid_dpop_proof',
  'The DPoP proof htu is not the URL of this request')
export const DpopProofTime = define('AUTH_DPOP_PROOF_TIME', 401, 'invalid_dpop_proof',
  'The DPoP proof iat is outside the accepted window')
export const DpopProofTokenHash = define('AUTH_DPOP_PROOF_ATH', 401, 'invalid_dpop_proof',
  'The DPoP proof ath is not the hash of this access token')
export const DpopProofReplayed = define('AUTH_DPOP_PROOF_REPLAYED', 401, 'invalid_dpop_proof',
  'The DPoP proof was already used: send a new proof with every request')
export const DpopNonceRequired = define('AUTH_DPOP_NONCE_REQUIRED', 401, 'use_dpop_nonce',
  'The DPoP proof must carry the nonce this API sent in the DPoP-Nonce header')
export const ReplayStoreUnreachable = define('AUTH_REPLAY_STORE_UNAVAILABLE', 503, 'unavailable',
  'DPoP proofs cannot be checked for replay now, so DPoP requests are refused; retry later')
ReplayStoreUnreachable.prototype.retryAfter = 1

export const UnsupportedConfirmation = define('AUTH_UNSUPPORTED_CONFIRMATION', 401, 'invalid_token',
  'The access token is bound (cnf) by a method this API cannot check: only jkt (DPoP) and x5t#S256 (mutual TLS)')

/** RFC 8705: a certificate-bound token, and the client certificate presented with it. */
export const CertificateRequired = define('AUTH_CLIENT_CERTIFICATE_REQUIRED', 401, 'invalid_token',
  'The access token is bound to a client certificate, and none was presented')
export const MalformedCertificateHeader = define('AUTH_CLIENT_CERTIFICATE_MALFORMED', 400, 'invalid_request',
  'The Client-Cert header is not an RFC 9440 byte sequence holding one certificate')
export const CertificateMismatch = define('AUTH_CLIENT_CERTIFICATE_MISMATCH', 401, 'invalid_token',
  'The access token is bound to a client certificate other than the one presented')
