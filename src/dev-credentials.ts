/**
 * The plain development credentials behind the hashes in config/local-issuer.json. They are public
 * (the README lists them for curl users); the token command uses them so nobody has to type them.
 */
export const DEV_AUDIENCE = 'https://quickstarts/api'

export const DEV_CLIENT_SECRETS: ReadonlyMap<string, string> = new Map([
  ['m2m-reader', 'local-reader-secret'],
  ['m2m-basic', 'local-basic-secret'],
  ['local-app', 'local-app-secret']
])

export const DEV_USER = { username: 'user@example.com', password: 'local-user-password' } as const

/** The client the token command uses with `--scope` (granted read:messages) and without (no scopes). */
export const SCOPED_CLIENT = 'm2m-reader'
export const UNSCOPED_CLIENT = 'm2m-basic'
