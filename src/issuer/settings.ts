import { join, resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { isProduction } from '../production.js'
import { findProjectRoot } from '../project-root.js'

export const DEFAULT_PORT = 3011
const DEFAULT_CONFIG_FILE = join('config', 'local-issuer.json')
const DEFAULT_KEY_DIR = '.local-issuer'

export interface LocalIssuerOptions {
  /** Default: LOCAL_ISSUER_PORT, else 3011. 0 picks a free port (tests). */
  port?: number
  /** 127.0.0.1 (default), ::1 or localhost; anything else is refused. */
  host?: string
  /** Default: LOCAL_ISSUER_CONFIG, else `<project root>/config/local-issuer.json`. */
  configPath?: string
  /** Default: LOCAL_ISSUER_KEY_DIR, else `<project root>/.local-issuer/`. */
  keyDir?: string
  /** A pino-compatible logger, or true/false for Fastify's own. Default: true. */
  logger?: FastifyBaseLogger | boolean
  /** Where NODE_ENV and the LOCAL_ISSUER_* variables are read. Default: process.env. */
  env?: NodeJS.ProcessEnv
}

export type LoopbackAddress = '127.0.0.1' | '::1'

export interface IssuerSettings {
  readonly port: number
  /** Where Fastify listens; the other loopback address gets a twin listener. */
  readonly host: LoopbackAddress
  readonly configPath: string
  readonly keyDir: string
}

export const PRODUCTION_REFUSAL =
  'The local development issuer refuses to run with NODE_ENV=production: set ISSUER_BASE_URL to your real authorization server (e.g. https://YOUR_TENANT.auth0.com/).'

const LOOPBACK = new Map<string, LoopbackAddress>([['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['localhost', '127.0.0.1']])

export function resolveSettings (options: LocalIssuerOptions): IssuerSettings {
  const env = options.env ?? process.env
  if (isProduction(env.NODE_ENV)) throw new Error(PRODUCTION_REFUSAL)
  const root = (): string => findProjectRoot()
  // An empty path means the default, whether it came as an option or from the environment:
  // resolve('') is the working directory, where a private signing key must never be written.
  return {
    port: options.port ?? portFromEnv(env),
    host: loopbackAddress(options.host ?? '127.0.0.1'),
    configPath: resolve(unlessEmpty(options.configPath) ?? readEnv(env, 'LOCAL_ISSUER_CONFIG') ?? join(root(), DEFAULT_CONFIG_FILE)),
    keyDir: resolve(unlessEmpty(options.keyDir) ?? readEnv(env, 'LOCAL_ISSUER_KEY_DIR') ?? join(root(), DEFAULT_KEY_DIR))
  }
}

/** Where the local issuer runs by default: `http://localhost:<LOCAL_ISSUER_PORT or 3011>/`. */
export function defaultLocalIssuerUrl (env: NodeJS.ProcessEnv): string {
  return `http://localhost:${portFromEnv(env)}/`
}

function portFromEnv (env: NodeJS.ProcessEnv): number {
  const text = readEnv(env, 'LOCAL_ISSUER_PORT')
  if (text === undefined) return DEFAULT_PORT
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new Error(`Invalid LOCAL_ISSUER_PORT "${text}": expected a port number from 0 to 65535`)
  return Number(text)
}

/** An unset variable and an empty one mean the same: use the default. */
function readEnv (env: NodeJS.ProcessEnv, name: string): string | undefined {
  return unlessEmpty(env[name])
}

function unlessEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}

function loopbackAddress (host: string): LoopbackAddress {
  const address = LOOPBACK.get(host)
  if (address === undefined) {
    throw new Error(`Refusing to listen on "${host}": the local issuer listens on loopback only (127.0.0.1, ::1 or localhost)`)
  }
  return address
}
