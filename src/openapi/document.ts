import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import type { FastifySchema, RouteOptions } from 'fastify'
import { describePolicy, describeScopes, routePolicy, type RoutePolicy } from '../auth/route-policy.js'
import type { ClaimRequirement } from '../auth/claim-rules.js'
import type { ScopeRequirement } from '../auth/scopes.js'
import type { DpopMode, DpopSettings } from '../config.js'
import { rejectionResponses } from './error-responses.js'
import { OAUTH2_SCHEME, securityRequirements, securitySchemes, type SecurityRequirement, type SecuritySchemes } from './security.js'

export interface DocumentSettings {
  /** The configured issuer (authSettings.issuer): the token endpoint lies below it. */
  issuer: string
  version: string
  /** The DPOP setting (a route may say otherwise) and the proof algorithms it takes. */
  dpop: Pick<DpopSettings, 'mode' | 'algorithms'>
}

type Schema = FastifySchema & { hide?: boolean, description?: string }

const POLICY_TEXT: Record<RoutePolicy['kind'], (policy: RoutePolicy) => string> = {
  public: () => 'Public: no access token needed.',
  token: policy => `Needs a valid access token${claimsText(policy as WithClaims)}.`,
  scopes: policy => `Needs a valid access token with scopes ${describeScopes((policy as { requirement: ScopeRequirement }).requirement)}${claimsText(policy as WithClaims)}.`
}

/** Claim rules have no place in OpenAPI's security requirements: the description says them. */
type WithClaims = { claims?: readonly ClaimRequirement[] }

function claimsText ({ claims }: WithClaims): string {
  return claims === undefined ? '' : ` whose claims satisfy: ${claims.map(claim => claim.description).join(', ')} (else 401 AUTH_CLAIM_MISMATCH)`
}

/**
 * A route's schema as documented: its security and rejection responses from the very declaration
 * the auth plugin enforces (`config.auth`, read by the same routePolicy), so the document cannot
 * say something the plugin does not do. The route's own schema object is never changed: Fastify
 * compiled its serializers from it.
 */
export function documentedSchema (schema: Schema | undefined, route: Pick<RouteOptions, 'method' | 'url' | 'config'>, defaultDpopMode: DpopMode): Schema {
  const policy = routePolicy(route.config?.auth, `${String(route.method)} ${route.url}`)
  const text = POLICY_TEXT[policy.kind](policy)
  return {
    ...schema,
    description: schema?.description === undefined ? text : `${schema.description}\n\n${text}`,
    security: securityRequirements(policy, defaultDpopMode),
    response: { ...(schema?.response as object | undefined), ...rejectionResponses(policy) },
    'x-auth-policy': describePolicy(policy)
  } as Schema
}

type Paths = Record<string, Record<string, { security?: SecurityRequirement[] }>>

/** The parts of the generated document the scope list is made from. */
interface OpenapiDocument {
  paths: Paths
  components: { securitySchemes: SecuritySchemes }
}

/** Every scope some operation requires, for the client credentials flow's scope list. */
export function requiredScopes (paths: Paths): Record<string, string> {
  const scopes: Record<string, string> = {}
  for (const [url, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const requirement of operation.security ?? []) {
        for (const scope of requirement[OAUTH2_SCHEME] ?? []) {
          scopes[scope] = scopes[scope] === undefined ? `required by ${method.toUpperCase()} ${url}` : `${scopes[scope]}, ${method.toUpperCase()} ${url}`
        }
      }
    }
  }
  return scopes
}

/** @fastify/swagger's options: OpenAPI 3.1, both security schemes, each operation's requirements. */
export function openapiOptions ({ issuer, version, dpop }: DocumentSettings): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'oauth-protected-api',
        description: 'Every operation lists the access token it needs. Get a token from the issuer ' +
          `(client credentials at ${issuer}), then "Authorize" with it.`,
        version
      },
      components: { securitySchemes: securitySchemes(issuer, dpop.algorithms) }
    },
    transform ({ schema, url, route }) {
      // Hidden routes (the docs themselves, /metrics) are left out of the document as they are.
      if ((schema as Schema | undefined)?.hide === true) return { schema, url }
      return { schema: documentedSchema(schema, route, dpop.mode), url }
    },
    transformObject (documentObject) {
      const document = (documentObject as unknown as { openapiObject: OpenapiDocument }).openapiObject
      const schemes = document.components.securitySchemes
      const flow = { ...schemes[OAUTH2_SCHEME].flows.clientCredentials, scopes: requiredScopes(document.paths) }
      return {
        ...document,
        components: { ...document.components, securitySchemes: { ...schemes, [OAUTH2_SCHEME]: { ...schemes[OAUTH2_SCHEME], flows: { clientCredentials: flow } } } }
      }
    }
  }
}
