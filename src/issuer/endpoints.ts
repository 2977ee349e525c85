/** The issuer's paths, relative to its identifier `http://localhost:<port>/` (as Auth0's tenants). */
export const DISCOVERY_PATH = '/.well-known/openid-configuration'
export const JWKS_PATH = '/.well-known/jwks.json'
export const TOKEN_PATH = '/oauth/token'
