/**
 * Token endpoint errors: RFC 6749 section 5.2 codes, plus Auth0's `access_denied` for an unknown
 * audience or an API the client may not call. One class, so one error handler renders them all.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // 401 plus a Basic challenge: the client may retry with (other) credentials.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  // 403 like Auth0: the request is understood and authenticated, the API is off limits to the client.
  access_denied: 403,
  server_error: 500,
  // Too many token requests at once: retry shortly (sent with Retry-After).
  temporarily_unavailable: 503
}

export class OAuthError extends Error {
  readonly error: OAuthErrorCode
  readonly statusCode: number

  /** `description` is sent to the client and logged: never put a secret, password or token in it. */
  constructor (error: OAuthErrorCode, description: string) {
    super(description)
    this.name = 'OAuthError'
    this.error = error
    this.statusCode = STATUS[error]
  }

  toJSON (): { error: OAuthErrorCode, error_description: string } {
    return { error: this.error, error_description: this.message }
  }
}

/** The challenge sent with every invalid_client response (RFC 6749 section 5.2). */
export const CLIENT_CHALLENGE = 'Basic realm="local-issuer"'
