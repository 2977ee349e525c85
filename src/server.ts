import closeWithGrace from 'close-with-grace'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import app from './app.js'
import { describeConfigError } from './config.js'
import { startLocalIssuer } from './issuer/server.js'
import { loggingOptions } from './logger.js'

export interface StartOptions {
  /** Variables to use instead of process.env and `.env` (tests). */
  env?: Record<string, string | undefined>
}

/**
 * Builds, configures and starts the API; with no issuer configured, first starts the embedded
 * development issuer so the API's key fetch finds it.
 */
export async function startServer ({ env }: StartOptions = {}): Promise<FastifyInstance> {
  const server = Fastify(loggingOptions())
  try {
    await server.register(fp(app), { env })
    server.log.level = server.config.LOG_LEVEL
    if (server.authSettings.localIssuer) {
      const { LOCAL_ISSUER_PORT, LOCAL_ISSUER_CONFIG, LOCAL_ISSUER_KEY_DIR, NODE_ENV } = server.config
      const local = await startLocalIssuer({
        port: LOCAL_ISSUER_PORT,
        configPath: LOCAL_ISSUER_CONFIG,
        keyDir: LOCAL_ISSUER_KEY_DIR,
        logger: server.log.child({ component: 'local-issuer' }),
        // Configuration comes from the validated environment (and .env), not process.env.
        env: { NODE_ENV }
      })
      server.addHook('onClose', () => local.close())
    }
    await server.listen({ port: server.config.PORT, host: server.config.HOST })
  } catch (error) {
    await server.close()
    throw error
  }
  return server
}

/** One readable line for the start-up failures a user can fix, or undefined. */
export function describeStartupError (error: unknown): string | undefined {
  const config = describeConfigError(error)
  if (config !== undefined) return config
  const { code, port } = error as { code?: unknown, port?: unknown }
  if (code === 'EADDRINUSE') return `Start-up error: port ${String(port)} is already in use (set PORT or LOCAL_ISSUER_PORT)`
  return undefined
}

/** The process entry point: start, and on SIGINT/SIGTERM stop accepting, drain, exit 0. */
export async function main (): Promise<void> {
  let server: FastifyInstance
  try {
    server = await startServer()
  } catch (error) {
    const line = describeStartupError(error)
    process.stderr.write(`${line ?? `Start-up failed: ${(error as Error).message}`}\n`)
    process.exitCode = 1
    return
  }
  closeWithGrace({ delay: 10_000, logger: server.log }, async ({ err, signal }) => {
    if (err !== undefined) server.log.error({ err }, 'closing after an unexpected error')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
  })
}
