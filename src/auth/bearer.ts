import { DuplicateToken, MalformedAuthorization, MissingToken, TokenInQuery } from './errors.js'

/** RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const AUTHORIZATION = 'authorization'

/**
 * The bearer token of a request, or the rejection RFC 6750 asks for: no credentials (or another
 * scheme) is a bare 401 challenge, a malformed or ambiguous request is a 400.
 */
export function readBearerToken (
  headers: { authorization?: string },
  /** Node keeps only the first Authorization header in `headers`; the raw list shows them all. */
  rawHeaders: readonly string[],
  query: unknown
): string {
  const authorization = headers.authorization
  if (countAuthorizationHeaders(rawHeaders) > 1) throw new DuplicateToken()
  const inQuery = typeof query === 'object' && query !== null && 'access_token' in query
  if (authorization === undefined) throw inQuery ? new TokenInQuery() : new MissingToken()
  const space = authorization.indexOf(' ')
  const scheme = space === -1 ? authorization : authorization.slice(0, space)
  if (scheme.toLowerCase() !== 'bearer') throw new MissingToken()
  // RFC 7235 allows one or more spaces after the scheme; anything after the token is malformed.
  const token = space === -1 ? '' : authorization.slice(space + 1).trimStart()
  if (!B64TOKEN.test(token)) throw new MalformedAuthorization()
  if (inQuery) throw new DuplicateToken()
  return token
}

function countAuthorizationHeaders (rawHeaders: readonly string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]
    if (name.length === AUTHORIZATION.length && name.toLowerCase() === AUTHORIZATION) count++
  }
  return count
}
