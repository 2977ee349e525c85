import { validateScopeRequirement, type ScopeRequirement } from './scopes.js'

/**
 * What a route declares in `config.auth`: `false` makes it public; nothing, `true` or `{}` asks for
 * a valid token; `{ scopes, mode }` asks for scopes too.
 */
export type RouteAuthConfig = boolean | { scopes?: string[], mode?: 'all' | 'any' }

export type RoutePolicy =
  | { kind: 'public' }
  | { kind: 'token' }
  | { kind: 'scopes', requirement: ScopeRequirement }

/** Reads a route's declaration; anything unexpected fails start-up, never opens a route. */
export function routePolicy (declared: unknown, route: string): RoutePolicy {
  if (declared === false) return { kind: 'public' }
  if (declared === undefined || declared === true) return { kind: 'token' }
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    throw new TypeError(`${route}: config.auth must be false, true or { scopes, mode }`)
  }
  const { scopes, mode, ...rest } = declared as { scopes?: unknown, mode?: unknown }
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new TypeError(`${route}: config.auth has unknown option "${unknown[0]}"`)
  if (scopes === undefined) {
    if (mode !== undefined) throw new TypeError(`${route}: config.auth.mode needs scopes`)
    return { kind: 'token' }
  }
  try {
    return { kind: 'scopes', requirement: validateScopeRequirement(scopes, mode ?? 'all') }
  } catch (error) {
    throw new TypeError(`${route}: config.auth ${(error as Error).message}`)
  }
}

/** One line for people: "public", "token", "scopes: read:messages (all)". */
export function describePolicy (policy: RoutePolicy): string {
  if (policy.kind !== 'scopes') return policy.kind
  return `scopes: ${policy.requirement.scopes.join(' ')} (${policy.requirement.mode})`
}
