import type { FastifyPluginAsync } from 'fastify'
import type { IssuerContext } from './context.js'
import { GRANT_TYPES } from './config.js'
import { DISCOVERY_PATH, JWKS_PATH, TOKEN_PATH } from './endpoints.js'

/** OpenID Connect discovery and the key set, the two documents a verifier fetches. */
export const discoveryRoutes: FastifyPluginAsync<IssuerContext> = async (app, { config, keys, issuerUrl }) => {
  app.get(DISCOVERY_PATH, async () => {
    const issuer = issuerUrl()
    return {
      issuer,
      token_endpoint: new URL(TOKEN_PATH, issuer).href,
      jwks_uri: new URL(JWKS_PATH, issuer).href,
      grant_types_supported: GRANT_TYPES,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: [...new Set([...config.apis.values()].flatMap(api => api.scopes))],
      // No ID tokens are issued; OIDC clients expect the field, and it names the access tokens' algorithm.
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'scope', 'azp', 'gty', 'jti', 'permissions']
    }
  })

  app.get(JWKS_PATH, async () => {
    const { published } = await keys.current()
    return { keys: published.map(key => key.publicJwk) }
  })
}
