import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import app from './app.js'
import { ConfigError, describeConfigError } from './config.js'
import { createFastify } from './fastify-instance.js'
import { serviceLogger } from './logger.js'
import { tlsServerOptions, type TlsServerOptions } from './mtls/tls-options.js'
import { tlsVariables } from './mtls/tls-variables.js'

export interface StartOptions {
  /** Variables to use instead of process.env and `.env` (tests). */
  env?: Record<string, string | undefined>
  /**
   * Whether a missing issuer may start the embedded development issuer (default true). Cluster
   * workers say no: each would start its own issuer, with its own signing key, on the same port.
   */
  localIssuer?: boolean
}

/** Why `npm run start:cluster` refuses local issuer mode, and what to do instead. */
export const CLUSTER_NEEDS_ISSUER = 'is required by start:cluster (each worker would start its own local issuer): ' +
  'set ISSUER_BASE_URL or AUTH0_DOMAIN, or run `npm run issuer` and set ISSUER_BASE_URL=http://localhost:3011/ and AUDIENCE=https://quickstarts/api'

/**
 * Builds, configures and starts the API; with no issuer configured, first starts the embedded
 * development issuer so the API's key fetch finds it. With TLS_CERT and TLS_KEY it serves https.
 */
export async function startServer ({ env, localIssuer = true }: StartOptions = {}): Promise<FastifyInstance> {
  // Read before the rest of the configuration: https options go to the constructor.
  const https = tlsServerOptions(tlsVariables(env))
  const server = createFastify(serviceLogger(), { https })
  try {
    await server.register(fp(app), { env })
    server.log.level = server.config.LOG_LEVEL
    if (server.authSettings.localIssuer) {
      if (!localIssuer) throw new ConfigError('ISSUER_BASE_URL', CLUSTER_NEEDS_ISSUER)
      const { LOCAL_ISSUER_PORT, LOCAL_ISSUER_CONFIG, LOCAL_ISSUER_KEY_DIR, NODE_ENV } = server.config
      // The one trusted issuer in local mode; with ALGORITHMS=HS256 (HS384, HS512) it has SECRET,
      // and the local issuer signs with what the API verifies with.
      const { algorithms: [algorithm], secret } = server.authSettings.issuers[0]
      // Loaded only in local mode: a service pointed at a real issuer never carries its code.
      const { startLocalIssuer } = await import('./issuer/server.js')
      const local = await startLocalIssuer({
        port: LOCAL_ISSUER_PORT,
        configPath: LOCAL_ISSUER_CONFIG,
        keyDir: LOCAL_ISSUER_KEY_DIR,
        logger: server.log.child({ component: 'local-issuer' }),
        // Configuration comes from the validated environment (and .env), not process.env.
        env: { NODE_ENV },
        signing: secret === undefined ? undefined : { algorithm, secret }
      })
      server.addHook('onClose', () => local.close())
    }
    await server.listen({ port: server.config.PORT, host: server.config.HOST })
    logClientCertificates(server, https)
  } catch (error) {
    await server.close()
    throw error
  }
  return server
}

/** Where RFC 8705 client certificates come from, said once at start-up. */
function logClientCertificates (server: FastifyInstance, https: TlsServerOptions | undefined): void {
  if (server.authSettings.clientCertificateHeader) {
    server.log.info('client certificates come from the Client-Cert header (CLIENT_CERT_HEADER=true), not from TLS connections: the proxy in front must set it and strip any a client sends')
  }
  if (https === undefined) return
  server.log.info({ clientCertificateCa: https.ca !== undefined }, https.ca === undefined
    ? 'listening with TLS: client certificates are requested, not verified against a CA (TLS_CLIENT_CA unset: any certificate the client holds the key of can bind a token)'
    : 'listening with TLS: client certificates are requested and verified against TLS_CLIENT_CA')
}

/** One readable line for the start-up failures a user can fix, or undefined. */
export function describeStartupError (error: unknown): string | undefined {
  const config = describeConfigError(error)
  if (config !== undefined) return config
  const { code, port, address, hostname } = error as { code?: unknown, port?: unknown, address?: unknown, hostname?: unknown }
  if (code === 'EADDRINUSE') return `Start-up error: port ${String(port)} is already in use (set PORT or LOCAL_ISSUER_PORT)`
  // HOST names no address of this machine (EADDRNOTAVAIL), or no address at all (ENOTFOUND).
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `Start-up error: cannot listen on "${String(hostname ?? address)}" (${code}): set HOST to an address of this machine, e.g. 0.0.0.0 or 127.0.0.1`
  }
  return undefined
}

/** The process entry point: start, and on SIGINT/SIGTERM stop accepting, drain, exit 0. */
export async function main (options: StartOptions = {}): Promise<void> {
  let server: FastifyInstance
  try {
    server = await startServer(options)
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
    // close-with-grace exits next: let the log lines still being written reach stdout first.
    // (Fastify types its logger as the common subset; ours is pino, which can flush.)
    await new Promise<void>(resolve => { (server.log as Logger).flush(() => { resolve() }) })
  })
}
