// What the token client throws. Every message is built from the URL, the HTTP status and a
// validated OAuth error code: never from a secret, a token or a response body.

/** The base of every error the token client throws. */
export class TokenClientError extends Error {
  constructor (message: string) {
    super(message)
    this.name = new.target.name
  }
}

/** The token endpoint answered, but with no usable token: an OAuth error, a 429 or 5xx, or something else. */
export class TokenRequestError extends TokenClientError {
  constructor (
    /** The HTTP status of the answer. */
    readonly status: number,
    /** RFC 6749's `error` code (`invalid_client`, `invalid_scope`, ...) when the answer carried a well-formed one. */
    readonly error: string | undefined,
    /**
     * The issuer's `error_description` (at most 300 characters, the client secret masked), or what was
     * wrong with a 200 answer. Not part of `message`: show it where an operator reads it.
     */
    readonly description: string | undefined,
    /** How long the issuer asked to wait (Retry-After, seconds or an HTTP date), in milliseconds. */
    readonly retryAfterMs: number | undefined
  ) {
    super(`token request failed with HTTP ${status}: ${error ?? 'unexpected response'}`)
  }
}

/** No answer came: the connection was refused or cut, or the timeout ran out. */
export class IssuerUnreachableError extends TokenClientError {
  constructor (
    readonly url: string,
    /** A system error code (`ECONNREFUSED`, `ENOTFOUND`, ...) or the abort's message for a timeout. */
    readonly reason: string
  ) {
    super(`cannot reach ${url} (${reason})`)
  }
}

/** The issuer's discovery document gave no usable token endpoint. */
export class DiscoveryError extends TokenClientError {
  constructor (readonly url: string, reason: string) {
    super(`discovery at ${url} failed: ${reason}`)
  }
}
