import { test } from 'tap'
import { ChallengeCache, challengeFor } from '../../src/auth/challenges.js'
import { MissingToken, TokenExpired } from '../../src/auth/errors.js'
import { scopeCheck } from '../../src/auth/route-checks.js'
import type { VerifiedToken } from '../../src/auth/claims.js'

const expired = new TokenExpired()
const BEARER_EXPIRED = 'Bearer realm="api", error="invalid_token", error_description="The access token expired"'

test('DPOP=off: the Bearer challenge alone, as RFC 6750 has it', async t => {
  t.equal(challengeFor(expired, 'Bearer', 'off', 'ES256'), BEARER_EXPIRED)
  t.equal(challengeFor(new MissingToken(), undefined, 'off', 'ES256'), 'Bearer realm="api"')
})

test('DPOP=allowed: the scheme used carries the error, the other is offered bare', async t => {
  t.equal(challengeFor(expired, 'Bearer', 'allowed', 'ES256 EdDSA'), `${BEARER_EXPIRED}, DPoP realm="api", algs="ES256 EdDSA"`)
  t.equal(challengeFor(new MissingToken(), undefined, 'allowed', 'ES256'), 'Bearer realm="api", DPoP realm="api", algs="ES256"')
  t.equal(challengeFor(expired, 'DPoP', 'allowed', 'ES256'),
    'DPoP realm="api", error="invalid_token", error_description="The access token expired", algs="ES256", Bearer realm="api"')
})

test('DPOP=required: DPoP alone, with the error and any scope', async t => {
  t.equal(challengeFor(new MissingToken(), 'Bearer', 'required', 'ES256'), 'DPoP realm="api", algs="ES256"')
  const insufficient = scopeCheck({ scopes: ['read:messages'], mode: 'all' })({ scopes: new Set() } as unknown as VerifiedToken)
  t.equal(challengeFor(insufficient!, 'DPoP', 'required', 'ES256'),
    'DPoP realm="api", error="insufficient_scope", error_description="The access token does not have the required scope (read:messages)", scope="read:messages", algs="ES256"')
})

test('ChallengeCache: the same challenges, each built once per mode and scheme', async t => {
  const cache = new ChallengeCache('ES256')
  for (const mode of ['off', 'allowed', 'required'] as const) {
    for (const scheme of ['Bearer', 'DPoP', undefined] as const) {
      const first = cache.for(expired, scheme, mode)
      t.equal(first, challengeFor(expired, scheme, mode, 'ES256'), `${mode}, ${String(scheme)}`)
      t.equal(cache.for(new TokenExpired(), scheme, mode), first, `${mode}, ${String(scheme)}: again, from the cache`)
    }
  }
})
