import { DuplicateToken, MalformedAuthorization, MissingToken, TokenInQuery } from './errors.js'

/** RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const AUTHORIZATION = 'authorization'
const SCHEME_END = /\s/
const LEADING_SPACES = /^ +/

/** The two schemes an access token may come in: RFC 6750's, and RFC 9449's for DPoP-bound tokens. */
export type TokenScheme = 'Bearer' | 'DPoP'

/** An access token as the request presents it. */
export interface PresentedToken {
  readonly scheme: TokenScheme
  readonly token: string
}

/** The parts of a request the token is read from, as Fastify hands them over. */
export interface TokenSource {
  headers: { authorization?: string }
  /** Node keeps only the first Authorization header in `headers`; the raw list shows them all. */
  raw: { rawHeaders: readonly string[] }
  query: unknown
}

/**
 * The access token of a request and its scheme, or the rejection RFC 6750 asks for: no
 * credentials (or another scheme) is a bare 401 challenge, a malformed or ambiguous request is a
 * 400. Whether this route takes the scheme is the caller's question (checkScheme).
 */
export function presentedTokenOf (request: TokenSource): PresentedToken {
  const authorization = request.headers.authorization
  if (countHeaders(request.raw.rawHeaders, AUTHORIZATION) > 1) throw new DuplicateToken()
  const query = request.query
  const inQuery = typeof query === 'object' && query !== null && 'access_token' in query
  if (authorization === undefined) throw inQuery ? new TokenInQuery() : new MissingToken()
  const presented = presentedIn(authorization)
  if (inQuery) throw new DuplicateToken()
  return presented
}

/** The token alone, whatever its scheme. */
export function accessTokenOf (request: TokenSource): string {
  return presentedTokenOf(request).token
}

/** The scheme the Authorization header names, when it is one of ours; for challenges, so it never throws. */
export function schemeOf (authorization: string | undefined): TokenScheme | undefined {
  if (authorization === undefined) return undefined
  // The header just read for the token, as a flood of one bad token sends it again and again.
  if (authorization === lastAuthorization) return lastPresented.scheme
  const end = authorization.search(SCHEME_END)
  return SCHEMES.get((end === -1 ? authorization : authorization.slice(0, end)).toLowerCase())
}

const SCHEMES = new Map<string, TokenScheme>([['bearer', 'Bearer'], ['dpop', 'DPoP']])

// The last header read and its token. A service reusing one token sends the same header on every
// call: the memo skips the parsing, and handing back the very same string lets the verifier's
// cache find it without hashing 800 characters again (V8 keeps a string's hash on the string).
let lastAuthorization: string | undefined
let lastPresented: PresentedToken = { scheme: 'Bearer', token: '' }

/** The token of an Authorization header (a pure function of the header, hence the memo). */
function presentedIn (authorization: string): PresentedToken {
  if (authorization === lastAuthorization) return lastPresented
  // The scheme ends at the first white space of any kind, so `Bearer<TAB>token` is a malformed
  // Bearer header (400), not some other scheme.
  const scheme = schemeOf(authorization)
  if (scheme === undefined) throw new MissingToken()
  const end = authorization.search(SCHEME_END)
  // RFC 7235 allows one or more spaces (SP only) after the scheme. Only spaces are skipped: a
  // tab, a no-break space or other white space is malformed, never silently trimmed (trimStart
  // did), so a proxy and this service cannot read two different tokens from one header.
  const token = end === -1 ? '' : authorization.slice(end).replace(LEADING_SPACES, '')
  if (!B64TOKEN.test(token)) throw new MalformedAuthorization()
  lastAuthorization = authorization
  lastPresented = Object.freeze({ scheme, token })
  return lastPresented
}

/** How many headers named `name` (lower case) the request has. */
export function countHeaders (rawHeaders: readonly string[], name: string): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const header = rawHeaders[i]
    if (header.length === name.length && header.toLowerCase() === name) count++
  }
  return count
}
