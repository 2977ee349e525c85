import formbody from '@fastify/formbody'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadIssuerConfig, resolveSettings, type IssuerSettings, type LocalIssuerOptions, type LoopbackAddress } from './config.js'
import { TokenEndpointDpop } from './dpop.js'
import { KeyStore } from './keys.js'
import { OAuthError, notFoundHandler, oauthErrorHandler } from './oauth-error.js'
import { discoveryRoutes, tokenEndpointOf, tokenRoute } from './routes.js'

// The issuer's entry point, which src/server.ts loads only in local issuer mode: startLocalIssuer,
// the Fastify instance it listens with, the twin listener on the other loopback address, and the
// request log line without the query string.

export type { LocalIssuerOptions } from './config.js'

export interface LocalIssuer {
  /** The issuer identifier and `iss` of its tokens: `http://localhost:<port>/`, trailing slash included. */
  readonly issuer: string
  readonly app: FastifyInstance
  close(): Promise<void>
}

/**
 * The issuer's Fastify instance, ready but not listening: for `inject()`. Its identifier is
 * `options.issuer`, as nothing listens to derive one from.
 */
export async function buildLocalIssuer (options: LocalIssuerOptions & { issuer: string }): Promise<FastifyInstance> {
  const { app } = await createIssuerApp(resolveSettings(options), options.logger ?? true, options.issuer)
  return app
}

/** Starts the development authorization server on loopback; rejects with a one-line reason. */
export async function startLocalIssuer (options: LocalIssuerOptions = {}): Promise<LocalIssuer> {
  const settings = resolveSettings(options)
  const { app, twin } = await createIssuerApp(settings, options.logger ?? true)
  try {
    await app.listen({ host: settings.host, port: settings.port })
    const { port } = app.server.address() as AddressInfo
    const twinHost = otherLoopback(settings.host)
    if (await twin.listen(twinHost, port)) app.log.info(`Server also listening at http://${hostPort(twinHost, port)}`)
  } catch (err) {
    await app.close()
    throw err
  }
  const issuer = localIssuerUrl(app.server.address())
  app.log.warn({ issuer, config: settings.configPath, keyDir: settings.keyDir, alg: settings.hmac?.algorithm ?? 'RS256' },
    `DEVELOPMENT authorization server at ${issuer}: its clients, users and secrets are public test data; never use it in production (set ISSUER_BASE_URL to a real issuer instead)`)
  return { issuer, app, close: async () => { await app.close() } }
}

/** Token requests are a few hundred bytes; anything near this limit is not one. */
const BODY_LIMIT = 16 * 1024

interface IssuerApp {
  readonly app: FastifyInstance
  readonly twin: LoopbackTwin
}

/** The Host names a request to the local issuer may carry (the port aside). */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The issuer as its own Fastify instance (not a plugin of the API), configured and ready to listen.
 * `issuer` pins the identifier for `inject()`; otherwise it follows the port the app listens on.
 */
export async function createIssuerApp (settings: IssuerSettings, logger: FastifyBaseLogger | boolean, issuer?: string): Promise<IssuerApp> {
  const config = await loadIssuerConfig(settings.configPath)
  const twin = new LoopbackTwin()
  const app: FastifyInstance = Fastify({
    ...(typeof logger === 'boolean' ? { logger } : { loggerInstance: logger }),
    logController: new QueryFreeLogController(),
    bodyLimit: BODY_LIMIT,
    serverFactory: twin.serverFactory
  })
  try {
    const keys = await KeyStore.open(settings.keyDir, app.log)
    const issuerUrl = (): string => issuer ?? localIssuerUrl(app.server.address())
    app.setErrorHandler(oauthErrorHandler)
    // Listening on loopback is not enough against DNS rebinding: a web page can point its own name
    // at 127.0.0.1 and call the issuer under that name, and the development credentials are public.
    app.addHook('onRequest', async request => {
      if (!LOOPBACK_NAMES.has(request.hostname)) throw new OAuthError('invalid_request', 'the local issuer answers only requests addressed to localhost, 127.0.0.1 or [::1]')
    })
    app.setNotFoundHandler(notFoundHandler)
    app.addHook('onClose', async () => { await twin.close() })
    await app.register(formbody)
    const dpop = new TokenEndpointDpop(() => tokenEndpointOf(issuerUrl()))
    app.addHook('onClose', async () => { await dpop.close() })
    const context = { config, keys, issuerUrl, hmac: settings.hmac, dpop }
    await app.register(discoveryRoutes, context)
    await app.register(tokenRoute, context)
    await app.ready()
    return { app, twin }
  } catch (err) {
    await app.close()
    throw err
  }
}

/** The issuer identifier: always `localhost`, whichever loopback address the client reaches. */
function localIssuerUrl (address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') throw new Error('the local issuer is not listening on a TCP port')
  return `http://localhost:${address.port}/`
}

/**
 * Serves the same Fastify app on the other loopback address too. `localhost` may resolve to ::1
 * before 127.0.0.1; Node 20's fetch then falls back to IPv4 only thanks to autoSelectFamily, and
 * another server on [::1]:<port> would silently receive our clients' requests. Listening on both
 * makes `http://localhost:<port>/` reach the issuer whatever the resolver says, or fail at start.
 */
export class LoopbackTwin {
  // Set by serverFactory, which Fastify calls while being constructed.
  #twin!: Server

  /** Give this to Fastify: it keeps Fastify's request handler for the twin. */
  readonly serverFactory: FastifyServerFactory = (handler) => {
    this.#twin = createServer(handler)
    return createServer(handler)
  }

  /** Returns false when this machine has no such address (IPv6 disabled): nothing can reach it there. */
  async listen (host: LoopbackAddress, port: number): Promise<boolean> {
    const twin = this.#twin
    try {
      await new Promise<void>((resolve, reject) => {
        twin.once('error', reject).listen({ host, port }, () => { twin.off('error', reject); resolve() })
      })
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return false
      throw new Error(`Cannot also listen on ${hostPort(host, port)} (${code}): another server there would receive requests for http://localhost:${port}/. Stop it or pick another LOCAL_ISSUER_PORT.`)
    }
  }

  async close (): Promise<void> {
    const twin = this.#twin
    if (!twin.listening) return
    await new Promise<void>(resolve => twin.close(() => resolve()))
  }
}

function otherLoopback (host: LoopbackAddress): LoopbackAddress {
  return host === '127.0.0.1' ? '::1' : '127.0.0.1'
}

/** `127.0.0.1:3011` or `[::1]:3011`, as in a URL. */
function hostPort (host: LoopbackAddress, port: number): string {
  return `${host === '::1' ? '[::1]' : host}:${port}`
}

/**
 * Fastify's request log lines record the full URL, query string included: a client that wrongly
 * puts client_secret in the query must not get it written to the log. This logs one line per
 * request with the path only; headers and bodies are never logged either.
 */
export class QueryFreeLogController extends LogController {
  constructor () {
    // Silences the default "incoming request" line; the override below writes the completed one.
    super({ disableRequestLogging: true })
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.info({
      method: request.method,
      path: request.url.split('?')[0],
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime),
      // Set when the response failed midway, e.g. the client went away.
      ...(error ? { err: error } : {})
    }, 'request completed')
  }
}
