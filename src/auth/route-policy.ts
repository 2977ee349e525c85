import { claimRequirements, type ClaimRequirement, type ClaimRule } from './claim-rules.js'
import { validateScopeRequirement, type ScopeRequirement } from './scopes.js'

/**
 * What a route declares in `config.auth`: `false` makes it public; nothing, `true` or `{}` asks for
 * a valid token; `{ scopes, mode }` asks for scopes too, and `{ claims }` for claim values.
 */
export type RouteAuthConfig = boolean | { scopes?: string[], mode?: 'all' | 'any', claims?: Record<string, ClaimRule> }

export type RoutePolicy =
  | { kind: 'public' }
  | { kind: 'token', claims?: ClaimRequirement[] }
  | { kind: 'scopes', requirement: ScopeRequirement, claims?: ClaimRequirement[] }

/** Reads a route's declaration; anything unexpected fails start-up, never opens a route. */
export function routePolicy (declared: unknown, route: string): RoutePolicy {
  if (declared === false) return { kind: 'public' }
  if (declared === undefined || declared === true) return { kind: 'token' }
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    throw new TypeError(`${route}: config.auth must be false, true or { scopes, mode, claims }`)
  }
  const { scopes, mode, claims, ...rest } = declared as { scopes?: unknown, mode?: unknown, claims?: unknown }
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new TypeError(`${route}: config.auth has unknown option "${unknown[0]}"`)
  if (scopes === undefined && mode !== undefined) throw new TypeError(`${route}: config.auth.mode needs scopes`)
  try {
    const withClaims = claims === undefined ? {} : { claims: claimRequirements(claims) }
    return scopes === undefined
      ? { kind: 'token', ...withClaims }
      : { kind: 'scopes', requirement: validateScopeRequirement(scopes, mode ?? 'all'), ...withClaims }
  } catch (error) {
    throw new TypeError(`${route}: config.auth ${(error as Error).message}`)
  }
}

/** One line for people: "public", "token", "scopes: read:messages (all)", "token; claims: org_id = \"acme\"". */
export function describePolicy (policy: RoutePolicy): string {
  if (policy.kind === 'public') return 'public'
  const base = policy.kind === 'token' ? 'token' : `scopes: ${describeScopes(policy.requirement)}`
  return policy.claims === undefined ? base : `${base}; claims: ${policy.claims.map(claim => claim.description).join(', ')}`
}

/** "read:messages (all)" */
export function describeScopes ({ scopes, mode }: ScopeRequirement): string {
  return `${scopes.join(' ')} (${mode})`
}
