import { DPOP_MODES, type DpopMode } from '../config.js'
import { claimRequirements, type ClaimRequirement, type ClaimRule } from './claim-rules.js'
import { validateScopeRequirement, type ScopeRequirement } from './scopes.js'

/**
 * What a route declares in `config.auth`: `false` makes it public; nothing, `true` or `{}` asks for
 * a valid token; `{ scopes, mode }` asks for scopes too, `{ claims }` for claim values, and
 * `{ dpop }` sets the route's DPoP mode (else the DPOP setting's).
 */
export type RouteAuthConfig = boolean | { scopes?: string[], mode?: 'all' | 'any', claims?: Record<string, ClaimRule>, dpop?: DpopMode }

export type RoutePolicy =
  | { kind: 'public' }
  | { kind: 'token', claims?: ClaimRequirement[], dpop?: DpopMode }
  | { kind: 'scopes', requirement: ScopeRequirement, claims?: ClaimRequirement[], dpop?: DpopMode }

/** The DPoP mode a route declares, or undefined (the DPOP setting's applies); its config was checked at start-up. */
export function declaredDpopMode (declared: unknown): DpopMode | undefined {
  return typeof declared === 'object' && declared !== null ? (declared as { dpop?: DpopMode }).dpop : undefined
}

/** Reads a route's declaration; anything unexpected fails start-up, never opens a route. */
export function routePolicy (declared: unknown, route: string): RoutePolicy {
  if (declared === false) return { kind: 'public' }
  if (declared === undefined || declared === true) return { kind: 'token' }
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    throw new TypeError(`${route}: config.auth must be false, true or { scopes, mode, claims, dpop }`)
  }
  const { scopes, mode, claims, dpop, ...rest } = declared as { scopes?: unknown, mode?: unknown, claims?: unknown, dpop?: unknown }
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new TypeError(`${route}: config.auth has unknown option "${unknown[0]}"`)
  if (scopes === undefined && mode !== undefined) throw new TypeError(`${route}: config.auth.mode needs scopes`)
  if (dpop !== undefined && !(DPOP_MODES as readonly unknown[]).includes(dpop)) throw new TypeError(`${route}: config.auth.dpop must be "allowed", "required" or "off"`)
  try {
    const withOptions = {
      ...(claims === undefined ? {} : { claims: claimRequirements(claims) }),
      ...(dpop === undefined ? {} : { dpop: dpop as DpopMode })
    }
    return scopes === undefined
      ? { kind: 'token', ...withOptions }
      : { kind: 'scopes', requirement: validateScopeRequirement(scopes, mode ?? 'all'), ...withOptions }
  } catch (error) {
    throw new TypeError(`${route}: config.auth ${(error as Error).message}`)
  }
}

/** One line for people: "public", "token", "scopes: read:messages (all)", "token; claims: org_id = \"acme\"". */
export function describePolicy (policy: RoutePolicy): string {
  if (policy.kind === 'public') return 'public'
  let line = policy.kind === 'token' ? 'token' : `scopes: ${describeScopes(policy.requirement)}`
  if (policy.claims !== undefined) line += `; claims: ${policy.claims.map(claim => claim.description).join(', ')}`
  if (policy.dpop !== undefined) line += `; dpop: ${policy.dpop}`
  return line
}

/** "read:messages (all)" */
export function describeScopes ({ scopes, mode }: ScopeRequirement): string {
  return `${scopes.join(' ')} (${mode})`
}
