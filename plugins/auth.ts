import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { ChallengeCache } from '../src/auth/challenges.js'
import { checkClaims, VerifiedToken, type AccessTokenClaims } from '../src/auth/claims.js'
import { EndOfTurnBatch } from '../src/auth/end-of-turn-batch.js'
import { AuthRejection, MissingToken } from '../src/auth/errors.js'
import { rejectionFor } from '../src/auth/jwt-errors.js'
import { presentedTokenOf, schemeOf, type PresentedToken } from '../src/auth/presented-token.js'
import { routeCheck, scopeCheck, type TokenCheck } from '../src/auth/route-checks.js'
import { declaredDpopMode, routePolicy, type RouteAuthConfig, type RoutePolicy } from '../src/auth/route-policy.js'
import { validateScopeRequirement, type ScopeMode } from '../src/auth/scopes.js'
import { checkScheme, TokenBinding } from '../src/auth/token-binding.js'
import { VerdictCache, type TokenCacheStats, type Verdict } from '../src/auth/token-cache.js'
import { checkCompactJws, checkHeader } from '../src/auth/token-header.js'
import { TrustedIssuers, type TrustedIssuer } from '../src/auth/trusted-issuers.js'
import type { DpopMode } from '../src/config.js'
import { DpopNonces } from '../src/dpop/nonces.js'
import { presentedCertificateThumbprint } from '../src/mtls/client-certificate.js'
import { createReplayStore, waitForReplayStore } from '../src/replay/create-replay-store.js'
import type { ReplayStore } from '../src/replay/replay-store.js'

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
    /** Where DPoP proofs are remembered (memory, or Redis shared by replicas). */
    replayStore: ReplayStore
    /** Sets a rejection's response headers: its `WWW-Authenticate` challenge, and a `DPoP-Nonce` when it asks for one. */
    setRejectionHeaders: (request: FastifyRequest, reply: FastifyReply, rejection: AuthRejection) => void
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
  const dpop = settings.dpop
  const replayStore = createReplayStore({
    redisUrl: settings.replayStore.redisUrl,
    capacity: settings.replayStore.capacity,
    log: fastify.log.child({ component: 'replay-store' })
  })
  const nonces = dpop.nonceSecret === undefined ? undefined : new DpopNonces(dpop.nonceSecret)
  // As src/mtls/tls-variables.ts reads it: blank is unset.
  const certificateSources = { trustHeader: settings.clientCertificateHeader, caConfigured: Boolean(fastify.config.TLS_CLIENT_CA?.trim()) }
  const binding = new TokenBinding({
    dpop,
    clockToleranceSeconds: settings.clockToleranceSeconds,
    replayStore,
    nonces,
    certificateOf: request => presentedCertificateThumbprint(request, certificateSources)
  })
  const challenges = new ChallengeCache(dpop.algorithms.join(' '))
  /** Whether any route declares its own DPoP mode (config.auth.dpop). */
  let routesSetDpopMode = false
  /** Requests the route hook is verifying, and the verdict `trusted` leaves for it (see `trusted`). */
  const hookVerdicts = new WeakMap<FastifyRequest, VerifiedToken | null>()

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
        const verified = checkClaims(payload, issuer, (header.kid as string | undefined) ?? '', policy)
        // The route hook checks the binding itself, after its cache: the token's verdict is cached,
        // a proof's never is. A handler's own request.jwtVerify() gets the binding check here.
        if (hookVerdicts.has(request)) {
          hookVerdicts.set(request, verified)
          return true
        }
        const presented = presentedTokenOf(request)
        // A handler of a declared route verifying again the token the hook accepted: the hook has
        // checked its binding already, and the proof, used once, would now count as a replay.
        if (request.accessToken !== null && isSignatureOf(presented.token, (token as unknown as DecodedToken).signature)) {
          accept(request, verified)
          return true
        }
        checkScheme(presented.scheme, dpop.mode)
        const bound = binding.check(request, presented, verified)
        if (bound === undefined) {
          accept(request, verified)
          return true
        }
        return bound.then(() => {
          accept(request, verified)
          return true
        })
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
  function authenticationHook (mode: DpopMode, check?: TokenCheck): onRequestHookHandler {
    const accepted = (request: FastifyRequest, token: VerifiedToken, done: (error?: Error) => void): void => {
      accept(request, token)
      done(check?.(token))
    }
    /** A DPoP request passed: with server nonces on, it learns the current one (RFC 9449 section 8.2), sparing it a 401 later. */
    const acceptedWithProof = (request: FastifyRequest, reply: FastifyReply, token: VerifiedToken, done: (error?: Error) => void): void => {
      if (nonces !== undefined) reply.header('dpop-nonce', nonces.current())
      accepted(request, token, done)
    }
    /** The token's verdict, then what it is bound to (checked on every request), then the route's own checks. */
    const finish = (request: FastifyRequest, reply: FastifyReply, presented: PresentedToken, verdict: Verdict, done: (error?: Error) => void): void => {
      if (!(verdict instanceof VerifiedToken)) {
        done(verdict)
        return
      }
      let bound: Promise<void> | undefined
      try {
        bound = binding.check(request, presented, verdict)
      } catch (rejection) {
        done(rejection as Error)
        return
      }
      if (bound === undefined) accepted(request, verdict, done)
      else bound.then(() => { acceptedWithProof(request, reply, verdict, done) }, done)
    }
    /** Every outcome, a bug included, reaches `done`. */
    const verify = (request: FastifyRequest, reply: FastifyReply, presented: PresentedToken, done: (error?: Error) => void): void => {
      const { token } = presented
      hookVerdicts.set(request, null)
      request.jwtVerify().then(() => {
        const verified = hookVerdicts.get(request)
        hookVerdicts.delete(request)
        // `trusted` leaves a verdict whenever jwtVerify resolves; without one, refuse (500), never pass.
        /* c8 ignore next 4 -- unreachable while trusted runs on every resolved jwtVerify; a guard against a future change */
        if (!(verified instanceof VerifiedToken)) {
          done(new Error('request.jwtVerify() resolved without a verified token'))
          return
        }
        cache.remember(token, verified)
        finish(request, reply, presented, verified, done)
      }, (error: unknown) => {
        hookVerdicts.delete(request)
        const rejection = rejectionFor(error, () => token)
        if (!(rejection instanceof AuthRejection)) {
          done(rejection as Error)
          return
        }
        cache.remember(token, rejection)
        done(rejection)
      })
    }
    return function authenticate (request, reply, done) {
      let presented: PresentedToken
      try {
        presented = presentedTokenOf(request)
        checkScheme(presented.scheme, mode)
      } catch (error) {
        done(error as Error)
        return
      }
      const known = cache.known(presented.token)
      if (known !== undefined) finish(request, reply, presented, known, done)
      else coldVerifications.add(() => { verify(request, reply, presented, done) })
    }
  }

  // Cold verifications wait for the end of the event-loop turn and run together (see EndOfTurnBatch).
  const coldVerifications = new EndOfTurnBatch()
  const authenticate = authenticationHook(dpop.mode)

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
    const mode = policy.dpop ?? dpop.mode
    if (policy.dpop !== undefined) routesSetDpopMode = true
    const hook = check === undefined && mode === dpop.mode ? authenticate : authenticationHook(mode, check)
    route.onRequest = [hook, ...asArray(route.onRequest)]
  })

  fastify.decorateRequest('accessToken', null)
  // By hand, it may follow the route's own hook: a request already accepted is not checked again
  // (its DPoP proof, used once, would count as a replay).
  fastify.decorate('authenticate', function authenticateOnce (this: FastifyInstance, request, reply, done) {
    if (request.accessToken !== null) done()
    else authenticate.call(this, request, reply, done)
  } satisfies onRequestHookHandler)
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorate('trustedIssuers', issuers)
  fastify.decorate('declaredRoutes', declaredRoutes)
  fastify.decorate('tokenCacheStats', () => cache.stats())
  fastify.decorate('replayStore', replayStore)
  fastify.decorate('setRejectionHeaders', (request: FastifyRequest, reply: FastifyReply, rejection: AuthRejection): void => {
    // request.routeOptions builds an object on each read: read it only when some route has its own mode.
    const mode = routesSetDpopMode ? declaredDpopMode(request.routeOptions.config?.auth) ?? dpop.mode : dpop.mode
    reply.header('www-authenticate', challenges.for(rejection, schemeOf(request.headers.authorization), mode))
    if (rejection.kind === 'use_dpop_nonce' && nonces !== undefined) reply.header('dpop-nonce', nonces.current())
  })

  fastify.addHook('onReady', async () => {
    const [, store] = await Promise.all([issuers.start(), waitForReplayStore(replayStore, REPLAY_STORE_START_WAIT_MS)])
    // DPoP requests get 503s until the store answers; bearer traffic does not need it.
    if (!store.ready) fastify.log.warn({ replayStore: replayStore.kind, reason: store.reason }, 'the DPoP replay store is not reachable yet: DPoP requests are refused (503) until it is')
  })
  fastify.addHook('onClose', async () => {
    issuers.close()
    await replayStore.close()
  })
}, { name: 'auth', dependencies: ['env'] })

/** How long start-up waits for a shared replay store before serving without it (bearer tokens need none). */
const REPLAY_STORE_START_WAIT_MS = 2000

/** A token as @fastify/jwt's decoder and fast-jwt's verifier (both `complete`) hand it over. */
interface DecodedToken {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** The signature segment, base64url. */
  signature: string
}

/** Whether `signature` is the signature segment of `token`. */
function isSignatureOf (token: string, signature: string): boolean {
  return token.length > signature.length && token.endsWith(signature) && token[token.length - signature.length - 1] === '.'
}

/** @fastify/jwt's extractToken: the access token (Bearer or DPoP), in the shape of a signed JWT. */
function signedTokenOf (request: FastifyRequest): string {
  const { token } = presentedTokenOf(request)
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
