import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { createIssuerApp, localIssuerUrl } from './issuer-app.js'
import { hostPort, otherLoopback } from './loopback-twin.js'
import { resolveSettings, type LocalIssuerOptions } from './config.js'

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
  app.log.warn({ issuer, config: settings.configPath, keyDir: settings.keyDir },
    `DEVELOPMENT authorization server at ${issuer}: its clients, users and secrets are public test data; never use it in production (set ISSUER_BASE_URL to a real issuer instead)`)
  return { issuer, app, close: async () => { await app.close() } }
}
