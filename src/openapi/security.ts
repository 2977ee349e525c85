import type { RoutePolicy } from '../auth/route-policy.js'
import type { DpopMode } from '../config.js'

/** The security scheme for a token pasted by hand (Swagger UI's "Authorize" dialog). */
export const BEARER_SCHEME = 'bearerAuth'
/** The same tokens, obtained from the issuer with client credentials. */
export const OAUTH2_SCHEME = 'oauth2'
/** A DPoP-bound token (RFC 9449): the `DPoP` HTTP authentication scheme, with a proof per request. */
export const DPOP_SCHEME = 'dpopAuth'

/** One OpenAPI security requirement: scheme name to the scopes it must carry. */
export type SecurityRequirement = Record<string, string[]>

/**
 * Where a machine-to-machine client gets a token: Auth0's (and the local issuer's) token endpoint
 * below the issuer. Other OpenID Connect issuers name theirs in discovery (`token_endpoint`).
 */
export function tokenEndpoint (issuer: string): string {
  return `${issuer.endsWith('/') ? issuer : `${issuer}/`}oauth/token`
}

export type SecuritySchemes = {
  [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: string }
  [DPOP_SCHEME]: { type: 'http', scheme: 'DPoP', bearerFormat: 'JWT', description: string }
  [OAUTH2_SCHEME]: {
    type: 'oauth2'
    description: string
    flows: { clientCredentials: { tokenUrl: string, scopes: Record<string, string> } }
  }
}

/** The ways to present a token; the flow's scopes are filled in from the routes' declarations. */
export function securitySchemes (issuer: string, proofAlgorithms: readonly string[]): SecuritySchemes {
  return {
    [BEARER_SCHEME]: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: `An access token issued by ${issuer} for this API, sent as \`Authorization: Bearer <token>\``
    },
    [OAUTH2_SCHEME]: {
      type: 'oauth2',
      description: 'Client credentials (machine to machine): the issuer\'s token endpoint returns the bearer token',
      flows: { clientCredentials: { tokenUrl: tokenEndpoint(issuer), scopes: {} } }
    },
    [DPOP_SCHEME]: {
      type: 'http',
      scheme: 'DPoP',
      bearerFormat: 'JWT',
      description: `A DPoP-bound access token (cnf.jkt) sent as \`Authorization: DPoP <token>\`, with a \`DPoP\` header holding a new proof ` +
        `for each request (RFC 9449), signed with ${proofAlgorithms.join(', ')}. A DPoP-bound token sent as Bearer is refused.`
    }
  }
}

/** The schemes a route takes, by its DPoP mode. */
const SCHEMES_BY_MODE: Record<DpopMode, readonly string[]> = {
  allowed: [BEARER_SCHEME, OAUTH2_SCHEME, DPOP_SCHEME],
  required: [DPOP_SCHEME],
  off: [BEARER_SCHEME, OAUTH2_SCHEME]
}

/**
 * A route policy as OpenAPI security requirements. Requirements in the list are alternatives
 * (any one will do) and the scopes within one are all required, so `mode: 'all'` is one
 * requirement per scheme and `mode: 'any'` one per scope. OpenAPI 3.1 lets a bearer requirement
 * name what it needs too. Public routes get an empty list: no security at all.
 */
export function securityRequirements (policy: RoutePolicy, defaultDpopMode: DpopMode): SecurityRequirement[] {
  if (policy.kind === 'public') return []
  const scopeSets = policy.kind === 'token'
    ? [[]]
    : policy.requirement.mode === 'all'
      ? [[...policy.requirement.scopes]]
      : policy.requirement.scopes.map(scope => [scope])
  const schemes = SCHEMES_BY_MODE[policy.dpop ?? defaultDpopMode]
  return schemes.flatMap(scheme => scopeSets.map(scopes => ({ [scheme]: scopes })))
}
