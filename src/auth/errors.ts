import createError from '@fastify/error'
import { errorBody } from '../error-body.js'

/** The RFC 6750 error a rejection reports in `WWW-Authenticate` (`missing`: no error attribute at all). */
export type ChallengeKind = 'missing' | 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'unavailable'

/**
 * Base of every rejection the auth layer makes, so one error handler can recognise them. Members
 * are only declared: @fastify/error builds instances without running this constructor, so a field
 * initializer here would never run (and left the class uncovered).
 */
export class AuthRejection extends Error {
  declare code: string
  declare statusCode: number
  /** The full `WWW-Authenticate` value; set per class, or per instance for scope failures. */
  declare challenge: string
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
  let value = `Bearer realm="${REALM}"`
  if (kind === 'missing' || kind === 'unavailable') return value
  for (const attribute of [description, scope ?? '']) {
    if (!ATTRIBUTE_VALUE.test(attribute)) throw new TypeError(`not a valid WWW-Authenticate attribute value: ${attribute}`)
  }
  value += `, error="${kind}", error_description="${description}"`
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
  Rejection.prototype.body = serializedBody({ statusCode, code, message })
  return Rejection
}

export const MissingToken = define('AUTH_MISSING_TOKEN', 401, 'missing',
  'An access token is required: send it in the Authorization header as Bearer <token>')
export const MalformedAuthorization = define('AUTH_MALFORMED_AUTHORIZATION', 400, 'invalid_request',
  'The Authorization header is malformed: expected Bearer <token>')
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
