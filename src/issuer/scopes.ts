import type { ApiConfig } from './config.js'
import { OAuthError } from './oauth-error.js'

/** Someone whose grants bound the token's scopes: the client, and for the password grant the user too. */
export interface ScopeHolder {
  /** Names the holder in error descriptions, e.g. `client "m2m-reader"`. */
  readonly name: string
  readonly scopes: ReadonlySet<string>
}

/**
 * The scopes a token gets. Without a `scope` parameter: everything every holder is granted on the
 * API (Auth0's default). With one: exactly the requested scopes, and any scope a holder lacks is an
 * invalid_scope error, never a token with less (or more) than what was asked.
 */
export function negotiateScopes (api: ApiConfig, requested: string | undefined, holders: readonly ScopeHolder[]): string[] {
  const heldByAll = (scope: string): boolean => holders.every(holder => holder.scopes.has(scope))
  const names = (requested ?? '').split(' ').filter(name => name !== '')
  if (names.length === 0) return api.scopes.filter(heldByAll)
  for (const name of names) {
    if (!api.scopes.includes(name)) {
      throw new OAuthError('invalid_scope', `scope "${name}" is not defined for audience ${api.identifier}`)
    }
    const lacking = holders.find(holder => !holder.scopes.has(name))
    if (lacking !== undefined) {
      throw new OAuthError('invalid_scope', `${lacking.name} is not granted scope "${name}" on ${api.identifier}`)
    }
  }
  // The API's own order, and each scope once, whatever order and repeats the request used.
  return api.scopes.filter(scope => names.includes(scope))
}
