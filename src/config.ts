import { isIP } from 'node:net'
import { ALGORITHMS_FOR_KEY_SETS, type AsymmetricAlgorithm } from './auth/algorithms.js'
import { DEV_AUDIENCE } from './dev-credentials.js'
import { isProduction } from './production.js'

/** The raw environment, as @fastify/env validates it against `envSchema`. */
export interface Env {
  NODE_ENV?: string
  PORT: number
  HOST: string
  LOG_LEVEL: string
  LOG_REQUESTS: boolean
  LOG_REJECTION_INTERVAL: number
  METRICS_ENABLED: boolean
  ISSUER_BASE_URL?: string
  AUTH0_DOMAIN?: string
  AUDIENCE?: string
  JWKS_URI?: string
  ALGORITHMS: string
  CLOCK_TOLERANCE: number
  LOCAL_ISSUER_PORT: number
  LOCAL_ISSUER_CONFIG?: string
  LOCAL_ISSUER_KEY_DIR?: string
  JWKS_TIMEOUT: number
  JWKS_MAX_BYTES: number
  JWKS_CACHE_TTL: number
  JWKS_COOLDOWN: number
  JWKS_STALE_LIMIT: number
  TOKEN_CACHE_SIZE: number
}

/** The audience the local issuer's default API uses, as in Auth0's quickstart samples. */
export const LOCAL_AUDIENCE = DEV_AUDIENCE

const seconds = (minimum: number, maximum: number, fallback: number) =>
  ({ type: 'integer', minimum, maximum, default: fallback }) as const

export const envSchema = {
  type: 'object',
  required: [],
  properties: {
    NODE_ENV: { type: 'string' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3010 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    LOG_REQUESTS: { type: 'boolean', default: false },
    LOG_REJECTION_INTERVAL: seconds(0, 3600, 10),
    METRICS_ENABLED: { type: 'boolean', default: false },
    ISSUER_BASE_URL: { type: 'string' },
    AUTH0_DOMAIN: { type: 'string' },
    AUDIENCE: { type: 'string' },
    JWKS_URI: { type: 'string' },
    ALGORITHMS: { type: 'string', default: 'RS256' },
    CLOCK_TOLERANCE: seconds(0, 300, 5),
    LOCAL_ISSUER_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 3011 },
    LOCAL_ISSUER_CONFIG: { type: 'string' },
    LOCAL_ISSUER_KEY_DIR: { type: 'string' },
    JWKS_TIMEOUT: { type: 'integer', minimum: 100, maximum: 60000, default: 3000 },
    JWKS_MAX_BYTES: { type: 'integer', minimum: 1024, maximum: 16777216, default: 1048576 },
    JWKS_CACHE_TTL: seconds(10, 86400, 600),
    JWKS_COOLDOWN: seconds(1, 3600, 30),
    JWKS_STALE_LIMIT: seconds(0, 604800, 3600),
    TOKEN_CACHE_SIZE: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 }
  }
} as const

/** What the auth layer needs, derived once from the environment. */
export interface AuthSettings {
  /** The exact `iss` accepted, e.g. `https://tenant.auth0.com/`. */
  issuer: string
  audiences: string[]
  /** Where the key set lives; undefined means discover it from the issuer. */
  jwksUri: string | undefined
  algorithms: AsymmetricAlgorithm[]
  clockToleranceSeconds: number
  /** True when no issuer is configured and the embedded development issuer stands in. */
  localIssuer: boolean
  keySet: {
    timeoutMs: number
    maxBytes: number
    ttlMs: number
    cooldownMs: number
    staleLimitMs: number
  }
  tokenCacheSize: number
}

/** A configuration mistake: names the variable, says what is wrong. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG'
  constructor (readonly variable: string, problem: string) {
    super(`${variable} ${problem}`)
    this.name = 'ConfigError'
  }
}

export function isLoopbackHost (hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/** Parses an http(s) URL; plain http only to loopback, since keys fetched in clear could be swapped. */
function parseUrl (variable: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    // Whatever sits between // and @ may be a password: it never reaches the error line.
    throw new ConfigError(variable, `is not a valid URL: "${value.replace(/\/\/[^/]*@/, '//')}"`)
  }
  // Before any check that quotes the value, which must not carry credentials into a log.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(variable, 'must not contain credentials')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(variable, `must be an https URL, got "${url.protocol}"`)
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(variable, `must use https (plain http is only allowed to localhost): "${value}"`)
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigError(variable, 'must not contain a query or a fragment')
  }
  return url
}

function issuerFromDomain (domain: string): string {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i.test(domain)) {
    throw new ConfigError('AUTH0_DOMAIN', `must be a host name such as "tenant.auth0.com" (no scheme, no path), got "${domain}"`)
  }
  return `https://${domain}/`
}

function configuredIssuer (env: Env): string | undefined {
  const base = env.ISSUER_BASE_URL?.trim() || undefined
  const domain = env.AUTH0_DOMAIN?.trim() || undefined
  const fromDomain = domain === undefined ? undefined : issuerFromDomain(domain)
  if (base === undefined) return fromDomain
  parseUrl('ISSUER_BASE_URL', base)
  if (fromDomain !== undefined && fromDomain !== base) {
    throw new ConfigError('ISSUER_BASE_URL', `("${base}") and AUTH0_DOMAIN ("${fromDomain}") disagree; set only one`)
  }
  return base
}

function parseList (value: string): string[] {
  return value.split(',').map(item => item.trim()).filter(item => item !== '')
}

function parseAlgorithms (value: string): AsymmetricAlgorithm[] {
  const names = parseList(value)
  if (names.length === 0) throw new ConfigError('ALGORITHMS', 'must name at least one algorithm, e.g. RS256')
  for (const name of names) {
    if (/^HS\d+$/i.test(name)) {
      throw new ConfigError('ALGORITHMS', `must not include ${name}: shared-secret algorithms cannot be verified with a public key set`)
    }
    if (!(ALGORITHMS_FOR_KEY_SETS as readonly string[]).includes(name)) {
      throw new ConfigError('ALGORITHMS', `has an unknown algorithm "${name}"; allowed: ${ALGORITHMS_FOR_KEY_SETS.join(', ')}`)
    }
  }
  return [...new Set(names)] as AsymmetricAlgorithm[]
}

/** Derives the auth settings from a validated environment; throws ConfigError on any mistake. */
export function deriveAuthSettings (env: Env): AuthSettings {
  const issuer = configuredIssuer(env)
  const localIssuer = issuer === undefined
  if (localIssuer && isProduction(env.NODE_ENV)) {
    throw new ConfigError('ISSUER_BASE_URL', 'is required when NODE_ENV=production (the local development issuer never runs in production); set ISSUER_BASE_URL or AUTH0_DOMAIN')
  }
  const audience = env.AUDIENCE?.trim() || undefined
  if (!localIssuer && audience === undefined) {
    throw new ConfigError('AUDIENCE', 'is required with ISSUER_BASE_URL or AUTH0_DOMAIN: set it to your API identifier')
  }
  const audiences = parseList(audience ?? LOCAL_AUDIENCE)
  if (audiences.length === 0) throw new ConfigError('AUDIENCE', `must name at least one audience (your API identifier), got "${audience}"`)
  const jwksUri = env.JWKS_URI?.trim() || undefined
  if (jwksUri !== undefined) parseUrl('JWKS_URI', jwksUri)
  return {
    issuer: issuer ?? `http://localhost:${env.LOCAL_ISSUER_PORT}/`,
    audiences,
    jwksUri,
    algorithms: parseAlgorithms(env.ALGORITHMS),
    clockToleranceSeconds: env.CLOCK_TOLERANCE,
    localIssuer,
    keySet: {
      timeoutMs: env.JWKS_TIMEOUT,
      maxBytes: env.JWKS_MAX_BYTES,
      ttlMs: env.JWKS_CACHE_TTL * 1000,
      cooldownMs: env.JWKS_COOLDOWN * 1000,
      staleLimitMs: env.JWKS_STALE_LIMIT * 1000
    },
    tokenCacheSize: env.TOKEN_CACHE_SIZE
  }
}

interface SchemaViolation { instancePath?: string, params?: { missingProperty?: string }, message?: string }

/**
 * The one line to print when start-up fails because of configuration, or undefined when the
 * error is something else. @fastify/env reports schema violations as ajv errors on `errors`.
 */
export function describeConfigError (error: unknown): string | undefined {
  if (error instanceof ConfigError) return `Configuration error: ${error.message}`
  const violations = (error as { errors?: SchemaViolation[] } | null)?.errors
  if (!Array.isArray(violations) || violations.length === 0) return undefined
  const [first] = violations
  const variable = first.instancePath?.replace(/^\//, '') || first.params?.missingProperty || 'environment'
  return `Configuration error: ${variable} ${first.message ?? 'is invalid'}`
}
