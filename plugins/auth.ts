import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { bearerTokenOf } from '../src/auth/bearer.js'
import { checkClaims, VerifiedToken, type AccessTokenClaims } from '../src/auth/claims.js'
import { EndOfTurnBatch } from '../src/auth/end-of-turn-batch.js'
import { AuthRejection, MissingToken } from '../src/auth/errors.js'
import { rejectionFor } from '../src/auth/jwt-errors.js'
import { routeCheck, scopeCheck, type TokenCheck } from '../src/auth/route-checks.js'
import { routePolicy, type RouteAuthConfig, type RoutePolicy } from '../src/auth/route-policy.js'
import { validateScopeRequirement, type ScopeMode } from '../src/auth/scopes.js'
import { VerdictCache, type TokenCacheStats, type Verdict } from '../src/auth/token-cache.js'
import { checkCompactJws, checkHeader } from '../src/auth/token-header.js'
import { TrustedIssuers, type TrustedIssuer } from '../src/auth/trusted-issuers.js'

export interface DeclaredRoute {
  method: string
  url: string
  policy: RoutePolicy
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a valid bearer token or a 400/401/503 rejection. */
    authenticate: onRequestHookHandler
    /** preHandler: the verified token must carry the scopes (all of them, or any one). */
    requireScopes: (scopes: string[], options?: { mode?: ScopeMode }) => preHandlerHookHandler
    /** The issuer allow-list, each issuer with its key set (or secret). */
    trustedIssuers: TrustedIssuers
    /** Every route with the policy the plugin enforces on it, in registration order. */
    declaredRoutes: DeclaredRoute[]
    /** Verified-token cache hits and misses so far, for the metrics. */
    tokenCacheStats: () => TokenCacheStats
  }
  interface FastifyRequest {
    /** The verified token with its scopes; null until `authenticate` accepts one. */
    accessToken: VerifiedToken | null
  }
  interface FastifyContextConfig {
    auth?: RouteAuthConfig
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: AccessTokenClaims
  }
}

/**
 * Wires the auth pieces into Fastify. Secure by default: every route registered after this plugin
 * needs a valid token unless its options say `config: { auth: false }`; a route that declares
 * scopes gets the scope check too.
 *
 * One pipeline verifies, and it is @fastify/jwt's `request.jwtVerify()`, given our parts through
 * its documented options: `extractToken` reads the bearer token and checks its shape; `secret`
 * applies the header rules, matches the issuer allow-list and finds that issuer's key (in its
 * bounded key set, or its secret); fast-jwt checks the signature and nothing else; `trusted`
 * applies the claim rules and leaves the request authenticated.
 * The route hook and `fastify.authenticate` put the verdict cache in front of that pipeline; a
 * handler that calls `request.jwtVerify()` itself gets the same checks, verdicts and request state.
 */
export default fp(async function authPlugin (fastify) {
  const settings = fastify.authSettings
  const cache = new VerdictCache(settings.tokenCacheSize)
  const issuers = new TrustedIssuers(settings, {
    log: fastify.log.child({ component: 'key-set' }),
    onKeysRetired: (issuer, kids) => { cache.retire(issuer, kids) }
  })
  const algorithms = issuers.algorithms()

  await fastify.register(fastifyJwt, {
    secret: signingKey,
    decode: { complete: true },
    verify: {
      extractToken: signedTokenOf,
      // Each issuer's own list is checked first (TrustedIssuer.keyFor); this is fast-jwt's guard too.
      algorithms,
      // The claim rules are ours (src/auth/claims.ts), applied in `trusted`: fast-jwt checks the signature only.
      ignoreExpiration: true,
      ignoreNotBefore: true,
      complete: true
    },
    trusted: (request, token) => {
      const { header, payload } = token as unknown as DecodedToken
      try {
        const { issuer, policy } = issuers.of(payload)
        accept(request, checkClaims(payload, issuer, (header.kid as string | undefined) ?? '', policy))
        return true
      } catch (rejection) {
        return Promise.reject(rejection)
      }
    },
    formatUser: token => (token as unknown as DecodedToken).payload as AccessTokenClaims
  })

  /**
   * @fastify/jwt's secret callback: the issuer allow-list (before any key is looked up or any URL
   * fetched), then that issuer's header rules and its key for this token.
   */
  function signingKey (_request: FastifyRequest, token: unknown, done: (error: Error | null, key?: string) => void): void {
    let found: ReturnType<TrustedIssuer['keyFor']>
    try {
      const { header, payload } = token as DecodedToken
      // The header rules every issuer shares come before anything the payload says.
      checkHeader(header, algorithms, { kidRequired: false, strict: false })
      found = issuers.of(payload).keyFor(header)
    } catch (rejection) {
      done(rejection as Error)
      return
    }
    if (found instanceof Promise) found.then(key => { done(null, key) }, done)
    else done(null, found)
  }

  /**
   * The onRequest hook: a verified token, and the route's scopes when it declares some. Checking
   * scopes here rather than in a later preHandler refuses before the body is read, and saves a
   * hook stage on every request. The verdict cache answers first; a token it does not know goes
   * through `request.jwtVerify()`, and its verdict is remembered.
   */
  function authenticationHook (check?: TokenCheck): onRequestHookHandler {
    const finish = (request: FastifyRequest, verdict: Verdict, done: (error?: Error) => void): void => {
      if (!(verdict instanceof VerifiedToken)) {
        done(verdict)
        return
      }
      accept(request, verdict)
      done(check?.(verdict))
    }
    /** Every outcome, a bug included, reaches `done`. */
    const verify = (request: FastifyRequest, token: string, done: (error?: Error) => void): void => {
      request.jwtVerify().then(() => {
        const verified = request.accessToken as VerifiedToken
        cache.remember(token, verified)
        finish(request, verified, done)
      }, (error: unknown) => {
        const rejection = rejectionFor(error, () => token)
        if (!(rejection instanceof AuthRejection)) {
          done(rejection as Error)
          return
        }
        cache.remember(token, rejection)
        finish(request, rejection, done)
      })
    }
    return function authenticate (request, _reply, done) {
      let token: string
      try {
        token = bearerTokenOf(request)
      } catch (error) {
        done(error as Error)
        return
      }
      const known = cache.known(token)
      if (known !== undefined) finish(request, known, done)
      else coldVerifications.add(() => { verify(request, token, done) })
    }
  }

  // Cold verifications wait for the end of the event-loop turn and run together (see EndOfTurnBatch).
  const coldVerifications = new EndOfTurnBatch()
  const authenticate = authenticationHook()

  function requireScopes (scopes: string[], { mode = 'all' }: { mode?: ScopeMode } = {}): preHandlerHookHandler {
    const check = scopeCheck(validateScopeRequirement(scopes, mode))
    return function checkScopes (request, _reply, done) {
      const token = request.accessToken
      done(token === null ? new MissingToken() : check(token))
    }
  }

  const declaredRoutes: DeclaredRoute[] = []
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const policy = routePolicy(route.config?.auth, `${String(route.method)} ${route.url}`)
    declaredRoutes.push({ method: String(route.method), url: route.url, policy })
    if (policy.kind === 'public') return
    const check = routeCheck(policy.claims ?? [], policy.kind === 'scopes' ? policy.requirement : undefined)
    const hook = check === undefined ? authenticate : authenticationHook(check)
    route.onRequest = [hook, ...asArray(route.onRequest)]
  })

  fastify.decorateRequest('accessToken', null)
  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorate('trustedIssuers', issuers)
  fastify.decorate('declaredRoutes', declaredRoutes)
  fastify.decorate('tokenCacheStats', () => cache.stats())

  fastify.addHook('onReady', () => issuers.start())
  fastify.addHook('onClose', async () => { issuers.close() })
}, { name: 'auth', dependencies: ['env'] })

/** A token as @fastify/jwt's decoder and fast-jwt's verifier (both `complete`) hand it over. */
interface DecodedToken {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

/** @fastify/jwt's extractToken: the bearer token, in the shape of a signed JWT. */
function signedTokenOf (request: FastifyRequest): string {
  const token = bearerTokenOf(request)
  checkCompactJws(token)
  return token
}

function accept (request: FastifyRequest, token: VerifiedToken): void {
  request.accessToken = token
  request.user = token.claims
}

function asArray<T> (value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}
