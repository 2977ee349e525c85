import formbody from '@fastify/formbody'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { loadIssuerConfig, type IssuerSettings } from './config.js'
import { discoveryRoutes } from './discovery-routes.js'
import { KeyStore } from './keys.js'
import { LoopbackTwin } from './loopback-twin.js'
import { OAuthError, notFoundHandler, oauthErrorHandler } from './oauth-error.js'
import { QueryFreeLogController } from './log-controller.js'
import { tokenRoute } from './token-route.js'

/** Token requests are a few hundred bytes; anything near this limit is not one. */
export const BODY_LIMIT = 16 * 1024

export interface IssuerApp {
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
    await app.register(discoveryRoutes, { config, keys, issuerUrl })
    await app.register(tokenRoute, { config, keys, issuerUrl })
    await app.ready()
    return { app, twin }
  } catch (err) {
    await app.close()
    throw err
  }
}

/** The issuer identifier: always `localhost`, whichever loopback address the client reaches. */
export function localIssuerUrl (address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') throw new Error('the local issuer is not listening on a TCP port')
  return `http://localhost:${address.port}/`
}
