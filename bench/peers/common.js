/**
 * What every comparison server shares: where to listen, which issuer and audience to trust, the
 * response bodies (the same as the service's, so every target sends the same bytes), and a clean
 * exit on SIGTERM (so `node --cpu-prof` can write its profile when the driver stops a peer).
 */

export const MESSAGES = {
  public: { message: 'Hello from a public endpoint! You don\'t need to be authenticated to see this.' },
  private: { message: 'Hello from a private endpoint! You need to be authenticated to see this.' },
  scoped: { message: 'Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.' }
}

export const REQUIRED_SCOPE = 'read:messages'

export function settings () {
  const { PORT, HOST = '127.0.0.1', ISSUER_BASE_URL, AUDIENCE } = process.env
  if (PORT === undefined) throw new Error('PORT is required')
  return {
    port: Number(PORT),
    host: HOST,
    // Normalised with a trailing slash, the form the key server puts in `iss`.
    issuer: ISSUER_BASE_URL === undefined ? undefined : ISSUER_BASE_URL.replace(/\/?$/, '/'),
    audience: AUDIENCE
  }
}

/** The authenticated caller's `scope` claim holds the scope (space-delimited, RFC 8693). */
export function hasScope (claims, scope) {
  return typeof claims?.scope === 'string' && claims.scope.split(' ').includes(scope)
}

export function exitOnSignal (close) {
  const stop = () => {
    Promise.resolve(close()).finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}
