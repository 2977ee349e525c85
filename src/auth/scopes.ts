/** What a route asks of the token's scopes: all of them, or any one. */
export type ScopeMode = 'all' | 'any'

export interface ScopeRequirement {
  scopes: readonly string[]
  mode: ScopeMode
}

/** RFC 6749 section 3.3: a scope token is one or more printable ASCII characters, no space, `"` or `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export function validateScopeRequirement (scopes: unknown, mode: unknown = 'all'): ScopeRequirement {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw new TypeError('scopes must be a non-empty array of scope names')
  }
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new TypeError(`invalid scope name ${JSON.stringify(scope)}: scope names are printable ASCII without spaces or quotes`)
    }
  }
  if (mode !== 'all' && mode !== 'any') {
    throw new TypeError(`scope mode must be "all" or "any", got ${JSON.stringify(mode)}`)
  }
  return { scopes: [...scopes], mode }
}

export function satisfies (granted: ReadonlySet<string>, { scopes, mode }: ScopeRequirement): boolean {
  return mode === 'all'
    ? scopes.every(scope => granted.has(scope))
    : scopes.some(scope => granted.has(scope))
}

/**
 * A set that refuses changes once made. A verified token is cached and shared by every request
 * that sends it, so a handler that added to its scopes would grant them to all the later ones.
 */
export class ReadonlyScopeSet extends Set<string> {
  constructor (scopes: Iterable<string>) {
    super()
    for (const scope of scopes) super.add(scope)
  }

  override add (): this { throw new TypeError('the scopes of a verified token cannot be changed') }
  override delete (): boolean { throw new TypeError('the scopes of a verified token cannot be changed') }
  override clear (): void { throw new TypeError('the scopes of a verified token cannot be changed') }
}

/** Thrown while reading scopes when a claim has the wrong shape (e.g. `scope` as an object). */
export class ScopeClaimError extends Error {}

/**
 * The scopes a token grants, from every place issuers put them: the space-separated `scope`
 * (RFC 8693, Auth0), Auth0's RBAC `permissions` array, and `scp` as Okta (string) or Entra ID
 * (array) send it. Claims of the wrong type are an error, not silently ignored.
 */
export function grantedScopes (claims: { scope?: unknown, permissions?: unknown, scp?: unknown }): ReadonlyScopeSet {
  const granted: string[] = []
  addSpaceSeparated(granted, claims.scope, 'scope')
  if (claims.permissions !== undefined) addArray(granted, claims.permissions, 'permissions')
  if (Array.isArray(claims.scp)) addArray(granted, claims.scp, 'scp')
  else addSpaceSeparated(granted, claims.scp, 'scp')
  return new ReadonlyScopeSet(granted)
}

function addSpaceSeparated (granted: string[], value: unknown, claim: string): void {
  if (value === undefined) return
  if (typeof value !== 'string') throw new ScopeClaimError(`${claim} must be a string`)
  for (const scope of value.split(' ')) {
    if (scope !== '') granted.push(scope)
  }
}

function addArray (granted: string[], value: unknown, claim: string): void {
  if (!Array.isArray(value)) throw new ScopeClaimError(`${claim} must be an array of strings`)
  for (const scope of value) {
    if (typeof scope !== 'string') throw new ScopeClaimError(`${claim} must be an array of strings`)
    granted.push(scope)
  }
}
