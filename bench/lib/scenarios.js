/**
 * The load scenarios. `token` names one of the pre-signed tokens sent on every request; `tokens`
 * names several, and each connection sends them in turn (S6); `pool` means every request carries
 * a different token from the round's pool (S3). `expect` is the status a target with auth must
 * answer every time; the ceiling answers 200 to all of them. `issuers` is how many issuers a
 * target with auth must trust to answer the scenario at all (S6: two; the rest: one). `dpop`
 * sends the token under the DPoP scheme with a fresh proof on every request, taken from a pool
 * signed before the run (S7): only targets with auth that check DPoP proofs answer it. `optIn`
 * keeps a scenario out of the default list: it runs only when named in --scenarios.
 */
export const SCENARIOS = {
  S1: { title: 'GET /api/public', path: '/api/public', token: null, expect: 200 },
  S2: { title: 'GET /api/private, one token reused', path: '/api/private', token: 'reused', expect: 200 },
  S3: { title: 'GET /api/private, every request a distinct token', path: '/api/private', pool: true, expect: 200 },
  S4: { title: 'GET /api/private-scoped, one scoped token', path: '/api/private-scoped', token: 'scoped', expect: 200 },
  S5: { title: 'GET /api/private, one token with an invalid signature', path: '/api/private', token: 'forged', expect: 401 },
  // S2's token and the same claims from a second issuer, alternating on every connection.
  S6: { title: 'GET /api/private, tokens from two issuers, each reused', path: '/api/private', tokens: ['reused', 'secondIssuer'], issuers: 2, expect: 200 },
  // One DPoP-bound token (cnf.jkt) reused, a new ES256 proof on every request, never one twice.
  S7: { title: 'GET /api/private, one DPoP-bound token reused, a fresh ES256 proof per request', path: '/api/private', token: 'dpopBound', dpop: true, optIn: true, expect: 200 }
}

export const SCENARIO_NAMES = Object.keys(SCENARIOS)

export function expectedStatus (scenario, target) {
  return target.auth ? scenario.expect : 200
}

/**
 * Why a target cannot answer a scenario as it requires, or null when it can. A target that trusts
 * one issuer would reject S6's second-issuer tokens; one that does not check DPoP proofs, S7's
 * DPoP-scheme requests. Such a target is skipped for that scenario, not counted as failing it.
 */
export function skipReason (scenario, target) {
  if (!target.auth) return null
  if ((target.issuers ?? 1) < (scenario.issuers ?? 1)) return 'trusts one issuer'
  if (scenario.dpop && !target.dpop) return 'does not check DPoP proofs'
  return null
}

export function answers (scenario, target) {
  return skipReason(scenario, target) === null
}
