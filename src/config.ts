import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { ALGORITHMS_FOR_KEY_SETS, HMAC_ALGORITHMS, type AsymmetricAlgorithm, type JwsAlgorithm } from './auth/algorithms.js'
import { DEV_AUDIENCE } from './dev-credentials.js'
import { isProduction } from './production.js'
import { redisUrlProblem } from './replay/create-replay-store.js'

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
  ISSUERS_FILE?: string
  ALGORITHMS: string
  SECRET?: string
  CLOCK_TOLERANCE: number
  MAX_TOKEN_AGE?: number
  STRICT_RFC9068: boolean
  READY_WHEN: 'all' | 'any'
  LOCAL_ISSUER_PORT: number
  LOCAL_ISSUER_CONFIG?: string
  LOCAL_ISSUER_KEY_DIR?: string
  JWKS_TIMEOUT: number
  JWKS_MAX_BYTES: number
  JWKS_CACHE_TTL: number
  JWKS_COOLDOWN: number
  JWKS_STALE_LIMIT: number
  TOKEN_CACHE_SIZE: number
  DPOP: 'allowed' | 'required' | 'off'
  DPOP_ALGORITHMS: string
  DPOP_MAX_AGE: number
  DPOP_MAX_FUTURE: number
  DPOP_NONCE: boolean
  DPOP_NONCE_SECRET?: string
  PUBLIC_URL?: string
  REDIS_URL?: string
  REPLAY_STORE_CAPACITY: number
  TLS_CERT?: string
  TLS_KEY?: string
  TLS_CLIENT_CA?: string
  CLIENT_CERT_HEADER: boolean
}

/** RFC 9449 at this API: Bearer and DPoP, DPoP only, or Bearer only (DPOP, and a route's config.auth.dpop). */
export const DPOP_MODES = ['allowed', 'required', 'off'] as const

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
    ISSUERS_FILE: { type: 'string' },
    ALGORITHMS: { type: 'string', default: 'RS256' },
    SECRET: { type: 'string' },
    CLOCK_TOLERANCE: seconds(0, 300, 5),
    MAX_TOKEN_AGE: { type: 'integer', minimum: 1, maximum: 31536000 },
    STRICT_RFC9068: { type: 'boolean', default: false },
    READY_WHEN: { type: 'string', enum: ['all', 'any'], default: 'all' },
    LOCAL_ISSUER_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 3011 },
    LOCAL_ISSUER_CONFIG: { type: 'string' },
    LOCAL_ISSUER_KEY_DIR: { type: 'string' },
    JWKS_TIMEOUT: { type: 'integer', minimum: 100, maximum: 60000, default: 3000 },
    JWKS_MAX_BYTES: { type: 'integer', minimum: 1024, maximum: 16777216, default: 1048576 },
    JWKS_CACHE_TTL: seconds(10, 86400, 600),
    JWKS_COOLDOWN: seconds(1, 3600, 30),
    JWKS_STALE_LIMIT: seconds(0, 604800, 3600),
    TOKEN_CACHE_SIZE: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 },
    DPOP: { type: 'string', enum: DPOP_MODES, default: 'allowed' },
    DPOP_ALGORITHMS: { type: 'string', default: 'ES256,ES384,ES512,PS256,PS384,PS512,RS256,RS384,RS512,EdDSA' },
    DPOP_MAX_AGE: seconds(1, 3600, 300),
    DPOP_MAX_FUTURE: seconds(0, 300, 30),
    DPOP_NONCE: { type: 'boolean', default: false },
    DPOP_NONCE_SECRET: { type: 'string' },
    PUBLIC_URL: { type: 'string' },
    REDIS_URL: { type: 'string' },
    REPLAY_STORE_CAPACITY: { type: 'integer', minimum: 1000, maximum: 100000000, default: 500000 },
    TLS_CERT: { type: 'string' },
    TLS_KEY: { type: 'string' },
    TLS_CLIENT_CA: { type: 'string' },
    CLIENT_CERT_HEADER: { type: 'boolean', default: false }
  }
} as const

/** One trusted issuer: tokens whose `iss` is exactly `issuer` are checked with these settings. */
export interface IssuerSettings {
  /** The exact `iss` accepted, e.g. `https://tenant.auth0.com/`. */
  issuer: string
  audiences: string[]
  /** All asymmetric (verified with the issuer's key set) or all HMAC (verified with `secret`). */
  algorithms: JwsAlgorithm[]
  /** Where the key set lives; undefined means discover it from the issuer. */
  jwksUri: string | undefined
  /** The shared secret of an HMAC issuer, used as its UTF-8 bytes (as Auth0 does); never with a key set. */
  secret: string | undefined
}

/** What the auth layer needs, derived once from the environment. */
export interface AuthSettings {
  /** The allow-list: a token from any other issuer is refused before any key is looked up. */
  issuers: IssuerSettings[]
  clockToleranceSeconds: number
  /** Tokens whose iat is older than this (or missing) are refused; undefined: no limit. */
  maxTokenAgeSeconds: number | undefined
  /** RFC 9068's profile: typ at+jwt, and iat, sub, client_id and jti required. */
  strictRfc9068: boolean
  /** Ready when every issuer's keys are loaded (all), or at least one's (any). */
  readyWhen: 'all' | 'any'
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
  dpop: DpopSettings
  /** Where proof identifiers are remembered: Redis when set (replicas share it), else this process's memory. */
  replayStore: { redisUrl: string | undefined, capacity: number }
  /** Whether an RFC 9440 `Client-Cert` header, set by a trusted TLS-terminating proxy, stands for the client certificate. */
  clientCertificateHeader: boolean
}

/** RFC 9449: whether DPoP-bound tokens are taken, and what a proof must satisfy. */
export interface DpopSettings {
  /** `allowed`: Bearer and DPoP; `required`: DPoP only; `off`: Bearer only (a route may say otherwise). */
  mode: DpopMode
  algorithms: AsymmetricAlgorithm[]
  maxAgeSeconds: number
  maxFutureSeconds: number
  /** The origin (and any path prefix) proofs' htu must name: from configuration, never from a request's headers. */
  publicUrl: string
  /** Server nonces (use_dpop_nonce): the key nonces are made with, shared by replicas; undefined when off. */
  nonceSecret: string | undefined
}

export type DpopMode = typeof DPOP_MODES[number]

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

/** The issuer allow-list from ISSUER_BASE_URL (a comma-separated list) or AUTH0_DOMAIN (one tenant). */
function configuredIssuers (env: Env): string[] | undefined {
  const base = env.ISSUER_BASE_URL?.trim() || undefined
  const domain = env.AUTH0_DOMAIN?.trim() || undefined
  const fromDomain = domain === undefined ? undefined : issuerFromDomain(domain)
  if (base === undefined) return fromDomain === undefined ? undefined : [fromDomain]
  const issuers = parseList(base)
  if (issuers.length === 0) throw new ConfigError('ISSUER_BASE_URL', 'must name at least one issuer URL')
  for (const issuer of issuers) parseUrl('ISSUER_BASE_URL', issuer)
  const duplicate = issuers.find((issuer, index) => issuers.indexOf(issuer) !== index)
  if (duplicate !== undefined) throw new ConfigError('ISSUER_BASE_URL', `names "${duplicate}" twice`)
  if (fromDomain !== undefined && (issuers.length !== 1 || fromDomain !== base)) {
    throw new ConfigError('ISSUER_BASE_URL', `("${base}") and AUTH0_DOMAIN ("${fromDomain}") disagree; set only one`)
  }
  return issuers
}

function parseList (value: string): string[] {
  return value.split(',').map(item => item.trim()).filter(item => item !== '')
}

/** An allow-list of algorithms, all asymmetric or all HMAC: one issuer never mixes key sets and secrets. */
function parseAlgorithms (names: string[], variable: string): JwsAlgorithm[] {
  if (names.length === 0) throw new ConfigError(variable, 'must name at least one algorithm, e.g. RS256')
  const known: readonly string[] = [...ALGORITHMS_FOR_KEY_SETS, ...HMAC_ALGORITHMS]
  for (const name of names) {
    if (!known.includes(name)) throw new ConfigError(variable, `has an unknown algorithm "${name}"; allowed: ${known.join(', ')}`)
  }
  const hmac = names.filter(name => isHmac(name))
  if (hmac.length > 0 && hmac.length < names.length) {
    throw new ConfigError(variable, `mixes ${hmac.join(', ')} with public-key algorithms: an issuer uses a shared secret or a key set, never both (a public key must never be used as an HMAC secret)`)
  }
  return [...new Set(names)] as JwsAlgorithm[]
}

export function isHmac (algorithm: string): boolean {
  return (HMAC_ALGORITHMS as readonly string[]).includes(algorithm)
}

/** RFC 7518 section 3.2: an HMAC key at least as long as the hash output; we ask 32 bytes for all three. */
const MIN_SECRET_BYTES = 32

function parseSecret (secret: string | undefined, needed: boolean): string | undefined {
  if (!needed) {
    if (secret !== undefined && secret !== '') throw new ConfigError('SECRET', 'is set, but no issuer uses HS256, HS384 or HS512 (set ALGORITHMS too, or remove SECRET)')
    return undefined
  }
  if (secret === undefined || secret === '') throw new ConfigError('SECRET', 'is required when ALGORITHMS names HS256, HS384 or HS512: set it to the API\'s signing secret')
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) throw new ConfigError('SECRET', `must be at least ${MIN_SECRET_BYTES} bytes long`)
  return secret
}

/** ISSUERS_FILE: per-issuer `audience`, `algorithms` and `jwksUri`, for issuers of ISSUER_BASE_URL that differ. */
type IssuerOverrides = Record<string, { audience?: string | string[], algorithms?: string | string[], jwksUri?: string }>

function readIssuersFile (path: string | undefined, issuers: readonly string[]): IssuerOverrides {
  if (path === undefined || path.trim() === '') return {}
  let document: unknown
  try {
    document = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new ConfigError('ISSUERS_FILE', `cannot be read as JSON (${path}): ${(error as Error).message}`)
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigError('ISSUERS_FILE', 'must hold a JSON object keyed by issuer, e.g. {"https://tenant.auth0.com/": {"audience": "https://api"}}')
  }
  for (const [issuer, entry] of Object.entries(document)) {
    if (!issuers.includes(issuer)) throw new ConfigError('ISSUERS_FILE', `names "${issuer}", which is not in ISSUER_BASE_URL (the allow-list lives there)`)
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError('ISSUERS_FILE', `"${issuer}" must map to an object`)
    const unknown = Object.keys(entry).find(key => !['audience', 'algorithms', 'jwksUri'].includes(key))
    if (unknown !== undefined) throw new ConfigError('ISSUERS_FILE', `"${issuer}" has unknown setting "${unknown}" (audience, algorithms, jwksUri)`)
    for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
      const valid = typeof value === 'string' || (key !== 'jwksUri' && Array.isArray(value) && value.every(item => typeof item === 'string'))
      if (!valid) throw new ConfigError('ISSUERS_FILE', `"${issuer}".${key} must be a string${key === 'jwksUri' ? '' : ' or an array of strings'}`)
    }
  }
  return document as IssuerOverrides
}

function listOf (value: string | string[]): string[] {
  return Array.isArray(value) ? value.map(item => item.trim()).filter(item => item !== '') : parseList(value)
}

/** Derives the auth settings from a validated environment; throws ConfigError on any mistake. */
export function deriveAuthSettings (env: Env): AuthSettings {
  const configured = configuredIssuers(env)
  const localIssuer = configured === undefined
  if (localIssuer && isProduction(env.NODE_ENV)) {
    throw new ConfigError('ISSUER_BASE_URL', 'is required when NODE_ENV=production (the local development issuer never runs in production); set ISSUER_BASE_URL or AUTH0_DOMAIN')
  }
  const issuers = configured ?? [`http://localhost:${env.LOCAL_ISSUER_PORT}/`]
  const overrides = readIssuersFile(env.ISSUERS_FILE, issuers)
  const audience = env.AUDIENCE?.trim() || undefined
  const jwksUri = env.JWKS_URI?.trim() || undefined
  if (jwksUri !== undefined) {
    parseUrl('JWKS_URI', jwksUri)
    if (issuers.length > 1) throw new ConfigError('JWKS_URI', 'names one key set, but ISSUER_BASE_URL names several issuers: give each its jwksUri in ISSUERS_FILE')
  }
  const defaultAlgorithms = parseAlgorithms(parseList(env.ALGORITHMS), 'ALGORITHMS')
  const settings = issuers.map(issuer => {
    const own = overrides[issuer] ?? {}
    const audienceList = own.audience !== undefined ? listOf(own.audience) : parseList(audience ?? (localIssuer ? LOCAL_AUDIENCE : ''))
    if (own.audience === undefined && !localIssuer && audience === undefined) {
      throw new ConfigError('AUDIENCE', 'is required with ISSUER_BASE_URL or AUTH0_DOMAIN: set it to your API identifier')
    }
    if (audienceList.length === 0) {
      throw own.audience === undefined
        ? new ConfigError('AUDIENCE', `must name at least one audience (your API identifier), got "${String(audience)}"`)
        : new ConfigError('ISSUERS_FILE', `"${issuer}".audience must name at least one audience (your API identifier)`)
    }
    const algorithms = own.algorithms === undefined ? defaultAlgorithms : parseAlgorithms(listOf(own.algorithms), 'ISSUERS_FILE')
    const ownJwksUri = own.jwksUri === undefined ? jwksUri : parseUrl('ISSUERS_FILE', own.jwksUri).href
    if (isHmac(algorithms[0]) && ownJwksUri !== undefined) {
      throw new ConfigError(own.jwksUri === undefined ? 'JWKS_URI' : 'ISSUERS_FILE', `is set for ${issuer}, which uses ${algorithms.join(', ')}: an HMAC issuer has a secret, never a key set`)
    }
    return { issuer, audiences: audienceList, algorithms, jwksUri: ownJwksUri, secret: undefined as string | undefined }
  })
  const secret = parseSecret(env.SECRET, settings.some(issuer => isHmac(issuer.algorithms[0])))
  for (const issuer of settings) {
    if (isHmac(issuer.algorithms[0])) issuer.secret = secret
  }
  return {
    issuers: settings,
    clockToleranceSeconds: env.CLOCK_TOLERANCE,
    maxTokenAgeSeconds: env.MAX_TOKEN_AGE,
    strictRfc9068: env.STRICT_RFC9068,
    readyWhen: env.READY_WHEN,
    localIssuer,
    keySet: {
      timeoutMs: env.JWKS_TIMEOUT,
      maxBytes: env.JWKS_MAX_BYTES,
      ttlMs: env.JWKS_CACHE_TTL * 1000,
      cooldownMs: env.JWKS_COOLDOWN * 1000,
      staleLimitMs: env.JWKS_STALE_LIMIT * 1000
    },
    tokenCacheSize: env.TOKEN_CACHE_SIZE,
    dpop: dpopSettings(env),
    replayStore: { redisUrl: redisUrl(env.REDIS_URL), capacity: env.REPLAY_STORE_CAPACITY },
    clientCertificateHeader: env.CLIENT_CERT_HEADER
  }
}

function dpopSettings (env: Env): DpopSettings {
  const algorithms = parseList(env.DPOP_ALGORITHMS)
  if (algorithms.length === 0) throw new ConfigError('DPOP_ALGORITHMS', 'must name at least one algorithm, e.g. ES256')
  for (const name of algorithms) {
    if (!(ALGORITHMS_FOR_KEY_SETS as readonly string[]).includes(name)) {
      throw new ConfigError('DPOP_ALGORITHMS', `has "${name}", which is not a public-key algorithm; allowed: ${ALGORITHMS_FOR_KEY_SETS.join(', ')}`)
    }
  }
  return {
    mode: env.DPOP,
    algorithms: [...new Set(algorithms)] as AsymmetricAlgorithm[],
    maxAgeSeconds: env.DPOP_MAX_AGE,
    maxFutureSeconds: env.DPOP_MAX_FUTURE,
    publicUrl: publicUrl(env),
    nonceSecret: nonceSecret(env)
  }
}

/**
 * PUBLIC_URL without a trailing slash. In development the default, http://localhost:<PORT>, is how
 * a caller on this machine names the API; in production no default can know the public name, and
 * a wrong one would refuse every DPoP proof, so it must be set unless DPoP is off.
 */
function publicUrl (env: Env): string {
  const configured = env.PUBLIC_URL?.trim() || undefined
  if (configured === undefined && isProduction(env.NODE_ENV) && env.DPOP !== 'off') {
    throw new ConfigError('PUBLIC_URL', 'is required when NODE_ENV=production and DPOP is not off: set it to the URL callers use, e.g. https://api.example.com (DPoP proofs name it)')
  }
  if (configured === undefined) return `http://localhost:${env.PORT}`
  const url = parseUrl('PUBLIC_URL', configured)
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '')
}

function nonceSecret (env: Env): string | undefined {
  const secret = env.DPOP_NONCE_SECRET === '' ? undefined : env.DPOP_NONCE_SECRET
  if (!env.DPOP_NONCE) {
    if (secret !== undefined) throw new ConfigError('DPOP_NONCE_SECRET', 'is set, but DPOP_NONCE is off (set DPOP_NONCE=true, or remove it)')
    return undefined
  }
  if (secret === undefined) {
    // One process can make its own; replicas must share one, or each refuses the others' nonces.
    if (isProduction(env.NODE_ENV)) throw new ConfigError('DPOP_NONCE_SECRET', 'is required with DPOP_NONCE when NODE_ENV=production: give every replica the same secret of at least 32 bytes')
    return randomBytes(32).toString('base64url')
  }
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) throw new ConfigError('DPOP_NONCE_SECRET', `must be at least ${MIN_SECRET_BYTES} bytes long`)
  return secret
}

function redisUrl (value: string | undefined): string | undefined {
  const url = value?.trim() || undefined
  if (url === undefined) return undefined
  const problem = redisUrlProblem(url)
  if (problem !== undefined) throw new ConfigError('REDIS_URL', problem)
  return url
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
