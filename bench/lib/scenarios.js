/**
 * The load scenarios. `token` names one of the pre-signed tokens sent on every request; `tokens`
 * names several, and each connection sends them in turn (S6); `pool` means every request carries
 * a different token from the round's pool (S3). `expect` is the status a target with auth must
 * answer every time; the ceiling answers 200 to all of them. `issuers` is how many issuers a
 * target with auth must trust to answer the scenario at all (S6: two; the rest: one).
 */
export const SCENARIOS = {
  S1: { title: 'GET /api/public', path: '/api/public', token: null, expect: 200 },
  S2: { title: 'GET /api/private, one token reused', path: '/api/private', token: 'reused', expect: 200 },
  S3: { title: 'GET /api/private, every request a distinct token', path: '/api/private', pool: true, expect: 200 },
  S4: { title: 'GET /api/private-scoped, one scoped token', path: '/api/private-scoped', token: 'scoped', expect: 200 },
  S5: { title: 'GET /api/private, one token with an invalid signature', path: '/api/private', token: 'forged', expect: 401 },
  // S2's token and the same claims from a second issuer, alternating on every connection.
  S6: { title: 'GET /api/private, tokens from two issuers, each reused', path: '/api/private', tokens: ['reused', 'secondIssuer'], issuers: 2, expect: 200 }
}

export const SCENARIO_NAMES = Object.keys(SCENARIOS)

export function expectedStatus (scenario, target) {
  return target.auth ? scenario.expect : 200
}

/**
 * Whether a target can answer a scenario as it requires. A target that trusts one issuer would
 * reject S6's second-issuer tokens: it is skipped for S6, not counted as failing it.
 */
export function answers (scenario, target) {
  return !target.auth || (target.issuers ?? 1) >= (scenario.issuers ?? 1)
}
