import type { ClaimRequirement } from './claim-rules.js'
import type { VerifiedToken } from './claims.js'
import { bearerChallenge, ClaimMismatch, InsufficientScope, serializedBody, type AuthRejection } from './errors.js'
import { satisfies, type ScopeRequirement } from './scopes.js'

/** What a route asks of a verified token: nothing when it is satisfied, else the rejection to answer. */
export type TokenCheck = (token: VerifiedToken) => AuthRejection | undefined

/** A scope requirement, and the one rejection (403, its scopes in the challenge) that serves every refusal. */
export function scopeCheck (requirement: ScopeRequirement): TokenCheck {
  const wanted = requirement.scopes.join(' ')
  const rejection = new InsufficientScope(requirement.mode === 'all' ? wanted : `any of: ${wanted}`)
  rejection.challenge = bearerChallenge('insufficient_scope', rejection.message, wanted)
  rejection.kind = 'insufficient_scope'
  rejection.scope = wanted
  rejection.body = serializedBody(rejection)
  return token => satisfies(token.scopes, requirement) ? undefined : rejection
}

/** A claim rule, and the one rejection that serves its refusals (401: the token is not one this route takes). */
export function claimCheck ({ claim, test }: ClaimRequirement): TokenCheck {
  const rejection = new ClaimMismatch(claim)
  rejection.challenge = bearerChallenge('invalid_token', rejection.message)
  rejection.kind = 'invalid_token'
  rejection.body = serializedBody(rejection)
  return token => test(token.claims) ? undefined : rejection
}

/** Everything a route asks of a token: its claim rules first (401), then its scopes (403); undefined when nothing. */
export function routeCheck (claims: readonly ClaimRequirement[], scopes: ScopeRequirement | undefined): TokenCheck | undefined {
  const checks = claims.map(claimCheck)
  if (scopes !== undefined) checks.push(scopeCheck(scopes))
  if (checks.length <= 1) return checks[0]
  return token => {
    for (const check of checks) {
      const refused = check(token)
      if (refused !== undefined) return refused
    }
    return undefined
  }
}
