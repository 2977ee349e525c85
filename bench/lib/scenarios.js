/**
 * The load scenarios. `token` names one of the pre-signed tokens sent on every request; `pool`
 * means every request carries a different token from the round's pool (S3). `expect` is the
 * status a target with auth must answer every time; the ceiling answers 200 to all of them.
 */
export const SCENARIOS = {
  S1: { title: 'GET /api/public', path: '/api/public', token: null, expect: 200 },
  S2: { title: 'GET /api/private, one token reused', path: '/api/private', token: 'reused', expect: 200 },
  S3: { title: 'GET /api/private, every request a distinct token', path: '/api/private', pool: true, expect: 200 },
  S4: { title: 'GET /api/private-scoped, one scoped token', path: '/api/private-scoped', token: 'scoped', expect: 200 },
  S5: { title: 'GET /api/private, one token with an invalid signature', path: '/api/private', token: 'forged', expect: 401 }
}

export const SCENARIO_NAMES = Object.keys(SCENARIOS)

export function expectedStatus (scenario, target) {
  return target.auth ? scenario.expect : 200
}
