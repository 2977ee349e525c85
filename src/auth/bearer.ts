import { DuplicateToken, MalformedAuthorization, MissingToken, TokenInQuery } from './errors.js'

/** RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const AUTHORIZATION = 'authorization'
const SCHEME_END = /\s/
const LEADING_SPACES = /^ +/

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
  const token = tokenOf(authorization)
  if (inQuery) throw new DuplicateToken()
  return token
}

/** The bearer token of a request as Fastify hands it over (headers, raw header list, parsed query). */
export function bearerTokenOf (request: { headers: { authorization?: string }, raw: { rawHeaders: readonly string[] }, query: unknown }): string {
  return readBearerToken(request.headers, request.raw.rawHeaders, request.query)
}

// The last header read and its token. A service reusing one token sends the same header on every
// call: the memo skips the parsing, and handing back the very same string lets the verifier's
// cache find it without hashing 800 characters again (V8 keeps a string's hash on the string).
let lastAuthorization: string | undefined
let lastToken = ''

/** The token of an Authorization header (a pure function of the header, hence the memo). */
function tokenOf (authorization: string): string {
  if (authorization === lastAuthorization) return lastToken
  // The scheme ends at the first white space of any kind, so `Bearer<TAB>token` is a malformed
  // Bearer header (400), not some other scheme.
  const end = authorization.search(SCHEME_END)
  const scheme = end === -1 ? authorization : authorization.slice(0, end)
  if (scheme.toLowerCase() !== 'bearer') throw new MissingToken()
  // RFC 7235 allows one or more spaces (SP only) after the scheme. Only spaces are skipped: a
  // tab, a no-break space or other white space is malformed, never silently trimmed (trimStart
  // did), so a proxy and this service cannot read two different tokens from one header.
  const token = end === -1 ? '' : authorization.slice(end).replace(LEADING_SPACES, '')
  if (!B64TOKEN.test(token)) throw new MalformedAuthorization()
  lastAuthorization = authorization
  lastToken = token
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
