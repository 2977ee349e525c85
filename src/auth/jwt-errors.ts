import { TokenError } from 'fast-jwt'
import { InvalidSignature, MalformedToken, type AuthRejection } from './errors.js'
import { decodeSegment } from './token-header.js'

/**
 * @fastify/jwt's one code both for a token its decoder cannot read and for a signature (or key)
 * that fails: told apart below by decoding the token, on this failure path only.
 */
const TOKEN_INVALID = 'FST_JWT_AUTHORIZATION_TOKEN_INVALID'

/**
 * What else @fastify/jwt and fast-jwt can report once our own checks have run (the header rules
 * come first, and fast-jwt is asked for nothing but the signature), mapped by code, never by text.
 */
const REJECTION_FOR_CODE: Record<string, new () => AuthRejection> = {
  [TokenError.codes.invalidPayload]: MalformedToken,
  [TokenError.codes.missingSignature]: InvalidSignature,
  [TokenError.codes.verifyError]: InvalidSignature
}

/**
 * The rejection an error from `request.jwtVerify()` stands for. Our own rejections pass through;
 * anything unknown is returned as it is: not a verdict on the token but a bug, answered as a 500.
 */
export function rejectionFor (error: unknown, token: () => string): unknown {
  const code = (error as { code?: unknown } | null)?.code
  if (code === TOKEN_INVALID) {
    const bearer = token()
    return decodeSegment(bearer, 0) !== undefined && decodeSegment(bearer, 1) !== undefined ? new InvalidSignature() : new MalformedToken()
  }
  const Rejection = typeof code === 'string' && Object.hasOwn(REJECTION_FOR_CODE, code) ? REJECTION_FOR_CODE[code] : undefined
  return Rejection === undefined ? error : new Rejection()
}
