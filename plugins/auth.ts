import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { readBearerToken } from '../src/auth/bearer.js'
import { EndOfTurnBatch } from '../src/auth/end-of-turn-batch.js'
import { AuthRejection, bearerChallenge, InsufficientScope, MissingToken, serializedBody } from '../src/auth/errors.js'
import { KeySet } from '../src/auth/key-set.js'
import { routePolicy, type RouteAuthConfig, type RoutePolicy } from '../src/auth/route-policy.js'
import { satisfies, validateScopeRequirement, type ScopeMode } from '../src/auth/scopes.js'
import { TokenVerifier, VerifiedToken, type AccessTokenClaims, type TokenCacheStats, type Verdict } from '../src/auth/token-verifier.js'
import { verifierPerKey } from '../src/auth/verifier-per-key.js'

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
    keySet: KeySet
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
 * scopes gets the scope check too. Verification goes through @fastify/jwt with the issuer's keys.
 */
export default fp(async function authPlugin (fastify) {
  const settings = fastify.authSettings
  const keySet = new KeySet({
    ...settings.keySet,
    issuer: settings.issuer,
    jwksUri: settings.jwksUri,
    algorithms: settings.algorithms,
    log: fastify.log.child({ component: 'key-set' }),
    onKeysRetired: kids => verifier.retire(kids)
  })

  // The verification policy, shared by @fastify/jwt and the per-key verifiers of the hot path.
  const verifyPolicy = {
    algorithms: settings.algorithms,
    allowedIss: settings.issuer,
    allowedAud: settings.audiences,
    requiredClaims: ['exp', 'iss', 'aud'],
    clockTolerance: settings.clockToleranceSeconds * 1000,
    cache: false
  }

  const verifier = new TokenVerifier({
    keys: keySet,
    verifySignature: verifierPerKey(verifyPolicy),
    issuer: settings.issuer,
    audiences: settings.audiences,
    algorithms: settings.algorithms,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    cacheSize: settings.tokenCacheSize
  })

  // request.jwtVerify() by hand gets the whole policy and the same refusals. @fastify/jwt asks
  // extractToken for the token before it decodes it: our verifier reads and judges it there, so a
  // missing, malformed or refused token is our rejection, not @fastify/jwt's. The secret callback
  // asks the verifier again (answered from memory for a refusal; a token seen for the first time
  // is checked twice on this path, which the hook never takes), and @fastify/jwt then checks the
  // token once more with the same policy.
  await fastify.register(fastifyJwt, {
    secret: async (request: FastifyRequest) => {
      const verdict = await verifyRequest(request)
      if (!(verdict instanceof VerifiedToken)) throw verdict
      return (await keySet.get(verdict.kid)).pem
    },
    decode: { complete: true },
    verify: {
      ...verifyPolicy,
      extractToken: (request: FastifyRequest) => {
        const token = bearerTokenOf(request)
        const verdict = verifier.verify(token)
        if (verdict instanceof AuthRejection) throw verdict
        return token
      }
    }
  })

  /** The request's verdict; a request with no usable bearer token throws its rejection. */
  function verifyRequest (request: FastifyRequest): Verdict | Promise<Verdict> {
    return verifier.verify(bearerTokenOf(request))
  }

  /** A route's scope check: the requirement, and the one rejection that serves every refusal. */
  function scopeCheck (scopes: string[], mode: ScopeMode): (token: VerifiedToken) => InstanceType<typeof InsufficientScope> | undefined {
    const requirement = validateScopeRequirement(scopes, mode)
    const wanted = requirement.scopes.join(' ')
    const rejection = new InsufficientScope(mode === 'all' ? wanted : `any of: ${wanted}`)
    rejection.challenge = bearerChallenge('insufficient_scope', rejection.message, wanted)
    rejection.body = serializedBody(rejection)
    return token => satisfies(token.scopes, requirement) ? undefined : rejection
  }

  /**
   * The onRequest hook: a verified token, and the route's scopes when it declares some. Checking
   * scopes here rather than in a later preHandler refuses before the body is read, and saves a
   * hook stage on every request.
   */
  function authenticationHook (check?: (token: VerifiedToken) => Error | undefined): onRequestHookHandler {
    const finish = (request: FastifyRequest, verdict: Verdict, done: (error?: Error) => void): void => {
      if (!(verdict instanceof VerifiedToken)) {
        done(verdict)
        return
      }
      accept(request, verdict)
      done(check?.(verdict))
    }
    /** Never throws (nor does verify()): every outcome, a bug included, reaches `done`. */
    const verifyAndFinish = (request: FastifyRequest, token: string, done: (error?: Error) => void): void => {
      const verdict = verifier.verify(token)
      if (verdict instanceof Promise) verdict.then(settled => { finish(request, settled, done) }, done)
      else finish(request, verdict, done)
    }
    return function authenticate (request, _reply, done) {
      let token: string
      try {
        token = bearerTokenOf(request)
      } catch (error) {
        done(error as Error)
        return
      }
      const known = verifier.known(token)
      if (known !== undefined) finish(request, known, done)
      else coldVerifications.add(() => { verifyAndFinish(request, token, done) })
    }
  }

  // Cold verifications wait for the end of the event-loop turn and run together (see EndOfTurnBatch).
  const coldVerifications = new EndOfTurnBatch()
  const authenticate = authenticationHook()

  function requireScopes (scopes: string[], { mode = 'all' }: { mode?: ScopeMode } = {}): preHandlerHookHandler {
    const check = scopeCheck(scopes, mode)
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
    const hook = policy.kind === 'scopes'
      ? authenticationHook(scopeCheck([...policy.requirement.scopes], policy.requirement.mode))
      : authenticate
    route.onRequest = [hook, ...asArray(route.onRequest)]
  })

  fastify.decorateRequest('accessToken', null)
  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorate('keySet', keySet)
  fastify.decorate('declaredRoutes', declaredRoutes)
  fastify.decorate('tokenCacheStats', () => verifier.cacheStats())

  fastify.addHook('onReady', () => keySet.start())
  fastify.addHook('onClose', async () => keySet.close())
}, { name: 'auth', dependencies: ['env'] })

/** The request's bearer token, or the rejection its Authorization header (or URL) calls for. */
function bearerTokenOf (request: FastifyRequest): string {
  return readBearerToken(request.headers, request.raw.rawHeaders, request.query)
}

function accept (request: FastifyRequest, token: VerifiedToken): void {
  request.accessToken = token
  request.user = token.claims
}

function asArray<T> (value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}
